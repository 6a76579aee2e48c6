"""Fixtures of the convergence fuzzer (tests/fuzz): the demo's staging files, the run's figures.

The default `pytest` run draws a small fixed-seed budget (FUZZ_EXAMPLES unset: 8 examples,
derandomized) over the shapes that pass on today's code (strategies.FEATURES minus
test_convergence.KNOWN_OPEN, see FINDINGS.md). `make fuzz` sets FUZZ_EXAMPLES=300 and draws
every feature; at the end of such a run the summary (run time, examples, distinct warehouse
shapes, rows checked, violations and the shrunk counterexample) is printed, written to
tests/fuzz/results.json, and the README block between `<!-- fuzz:start -->` and
`<!-- fuzz:end -->` is regenerated from it.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
for extra in (HERE, HERE.parent / "support"):
    if str(extra) not in sys.path:
        sys.path.insert(0, str(extra))

import figures as F  # noqa: E402


@pytest.fixture(scope="session")
def staging_src(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo's staging Parquet files (real public data), written once."""
    from reconcile.demo.data import build_staging

    out = tmp_path_factory.mktemp("fuzz_staging")
    build_staging(out)
    return out


def pytest_collection_modifyitems(config, items) -> None:
    """test_replay runs a shape given in FUZZ_SHAPE: without one it is not collected."""
    import os

    if os.environ.get("FUZZ_SHAPE"):
        return
    keep = [i for i in items if not (i.nodeid.startswith("tests/fuzz/") and i.name == "test_replay")]
    if len(keep) != len(items):
        config.hook.pytest_deselected(items=[i for i in items if i not in keep])
        items[:] = keep


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    if F.STATS.examples:
        terminalreporter.write_line("")
        for line in F.STATS.summary_lines():
            terminalreporter.write_line(line)
        if F.STATS.full_run:
            F.write(F.STATS)
