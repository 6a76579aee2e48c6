"""The convergence fuzzer (issue 13): random warehouses from real rows, plan -> apply -> plan
-> apply, and the promises of DESIGN.md "Promises that hold on any warehouse" as invariants.

    pytest tests/fuzz                          # the default run: 8 examples, fixed seed,
                                               # shapes that pass on today's code
    FUZZ_EXAMPLES=300 pytest -m fuzz ...       # `make fuzz`: every feature, a printed summary
    FUZZ_SHAPE='<json>' pytest tests/fuzz/test_convergence.py::test_replay   # one shape again

Each example (tests/fuzz/example.py) seeds a warehouse of its own under a fresh dataset
prefix on the session's local BigQuery, runs the apply session as `reconcile apply` does,
checks every invariant (example.INVARIANTS) and deletes the prefix's datasets. A violation
is an AssertionError subclass per invariant, so Hypothesis shrinks each kind apart and
prints the smallest shape it found.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, given, seed, settings

import example as E
import figures as F
import strategies as S
import warehouse as W

pytestmark = [pytest.mark.integration, pytest.mark.fuzz]

# Features whose shapes violate an invariant on today's code (FINDINGS.md names the
# violation and its repro). The default run leaves them out so that it passes; `make fuzz`
# draws them. Remove a name once its fix has landed.
KNOWN_OPEN: frozenset[str] = frozenset()  # F1 tmp_leftover, F2 duplicate_keys: fixed (FINDINGS.md)

BUDGET = int(os.environ.get("FUZZ_EXAMPLES", "0") or 0)
# The default `pytest` run (CI) draws 8 fixed-seed examples (~10-25 s each on 2 cores):
# enough to exercise every path in CI within its time budget; `make fuzz` draws 300.
DEFAULT_BUDGET = 8
FULL = BUDGET > 0
FUZZ_SEED = os.environ.get("FUZZ_SEED", "")
# Features a full run leaves out (comma-separated names of strategies.FEATURES), e.g. while
# their fix is landing; the summary and README block then say which were left out.
FUZZ_EXCLUDE = frozenset(f for f in os.environ.get("FUZZ_EXCLUDE", "").split(",") if f)


def _settings():
    common = dict(deadline=None, database=None, print_blob=True,
                  suppress_health_check=list(HealthCheck))
    if FULL:
        return settings(max_examples=BUDGET, derandomize=not FUZZ_SEED, **common)
    # The default run: fixed seed, no shrinking (its shapes pass; a failure prints the shape).
    return settings(max_examples=DEFAULT_BUDGET, derandomize=True, phases=(Phase.explicit, Phase.generate), **common)


def _run(shape: W.Shape, emulator, staging_src: Path, tmp: Path) -> E.Report:
    p = f"fz{uuid.uuid4().hex[:8]}_"
    root = tmp / p
    root.mkdir(parents=True)
    rep = E.run_example(shape, emulator.endpoint, staging_src, root, p)
    F.STATS.record(rep)
    return rep


def _raise(rep: E.Report) -> None:
    if not rep.violations:
        return
    steps = "\n".join(f"  {s.what}: exit {s.exit_code} ({s.changes} changes, {s.seconds:.1f} s) {s.detail[:400]}"
                      for s in rep.steps)
    first = rep.violations[0]
    others = "".join(f"\n  also {type(v).__name__}: {v}" for v in rep.violations[1:])
    raise type(first)(f"{first}{others}\nshape: {rep.shape.to_json()}\nprefix {rep.prefix}\n{steps}")


def test_fuzz_convergence(emulator, staging_src, tmp_path_factory) -> None:
    """The invariants hold on every drawn warehouse (budget: DEFAULT_BUDGET, or FUZZ_EXAMPLES)."""
    F.STATS.full_run, F.STATS.budget, F.STATS.seed = FULL, BUDGET or DEFAULT_BUDGET, FUZZ_SEED
    tmp = tmp_path_factory.mktemp("fuzz")
    exclude = FUZZ_EXCLUDE if FULL else KNOWN_OPEN
    F.STATS.excluded = tuple(sorted(exclude)) if FULL else ()

    @_settings()
    @given(shape=S.shapes(exclude=exclude, light=not FULL))
    def check(shape: W.Shape) -> None:
        _raise(_run(shape, emulator, staging_src, tmp))

    if FUZZ_SEED:
        check = seed(int(FUZZ_SEED))(check)
    check()


def test_replay(emulator, staging_src, tmp_path) -> None:
    """One shape again (FUZZ_SHAPE: its JSON, or a file holding it); collected only when set."""
    raw = os.environ["FUZZ_SHAPE"]
    text = Path(raw).read_text(encoding="utf-8") if not raw.lstrip().startswith("{") else raw
    import json

    doc = json.loads(text)
    shape = W.Shape.from_json(json.dumps(doc.get("shape", doc)))
    _raise(_run(shape, emulator, staging_src, tmp_path))
