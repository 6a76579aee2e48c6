"""Run one plan -> apply in a process of its own, for the crash tests.

    python crash_runner.py ENDPOINT SPEC_YAML [--target=NAME] [APPROVED_DATASET ...]

The test sets RECONCILE_TEST_PAUSE_AT=<point> (see reconcile.apply.context.PAUSE_ENV): the
executor prints "RECONCILE_PAUSED <point>" there and sleeps, and the test kills this
process with SIGKILL by its PID. Run to the end, it prints "RESULT <json>".
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from reconcile.apply import executor
from reconcile.bq.adapter import Adapter, local_client
from reconcile.plan.planner import plan
from reconcile.snapshot.read import read_snapshot
from reconcile.spec.sources import read_sources
from reconcile.spec.load import load_spec

PROJECT = "cbi-v14"


def main(argv: list[str]) -> int:
    endpoint, spec_path = argv[0], Path(argv[1])
    target = next((a.split("=", 1)[1] for a in argv[2:] if a.startswith("--target=")), "local")
    approvals = [a for a in argv[2:] if not a.startswith("--target=")]
    desired = load_spec(spec_path, root=spec_path.parent.parent)
    run_id = executor.new_run_id()
    adapter = Adapter(local_client(PROJECT, endpoint), PROJECT, run_id=run_id, emulator=True)
    p = plan(desired, read_snapshot(adapter, desired, target=target), read_sources(desired), approvals=approvals)
    result = executor.apply(p, desired, adapter, run_id=run_id, progress=lambda m: print(m, flush=True))
    print("RESULT " + json.dumps([o.to_dict() for o in result.outcomes]), flush=True)
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
