"""tests/apply/crash_runner.py, with one more kind of pause point: between actions.

    python pause_runner.py ENDPOINT SPEC_YAML [APPROVED_DATASET ...]

It runs crash_runner.main unchanged. RECONCILE_TEST_PAUSE_AT=<point> (see
reconcile.executor.PAUSE_ENV) pauses at the executor's own points ("relocate:<step>",
"merge:merged", "migrate:copied", ...) as before, and also at "before:<Kind>:<n>":
after the actions before it are done, right before the n-th action of that kind
starts. The pause is the executor's `_pause` (it prints the marker and sleeps), hooked
onto apply's progress callback, which the executor calls before each action.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "apply"))

import crash_runner  # noqa: E402
from reconcile.apply import executor# noqa: E402

_apply = executor.apply


def _apply_pausing_between_actions(plan, desired, adapter, *, progress=None, **kw):
    point = os.environ.get(executor.PAUSE_ENV, "")
    seen: dict[str, int] = {}

    def step(message: str) -> None:
        if progress is not None:
            progress(message)
        kind = message.split("] ", 1)[1].split(" ", 1)[0]  # "[i/n] Kind target"
        seen[kind] = seen.get(kind, 0) + 1
        executor._pause(f"before:{kind}:{seen[kind]}")  # a no-op unless it is the point

    return _apply(plan, desired, adapter, progress=step, **kw)


executor.apply = _apply_pausing_between_actions

if __name__ == "__main__":
    sys.exit(crash_runner.main(sys.argv[1:]))
