"""The fuzzer's first apply in a process of its own, to be killed with SIGKILL.

    python kill_runner.py ENDPOINT SPEC_YAML [APPROVED_DATASET ...]

It plans and applies as `reconcile apply --auto-approve` does (the apply session, target
`local`), after printing "RUN_ID <id>" (the parent breaks the dead run's lease with it).
RECONCILE_TEST_PAUSE_AT (reconcile.apply.context.PAUSE_ENV) names where to stop: one of
the executor's own points ("merge:merged", "migrate:copied", "relocate:<step>", ...) or
"step:<n>", before the n-th change starts (counted on the session's progress callback,
which it calls before each change). There the executor's pause hook prints
"RECONCILE_PAUSED <point>" and sleeps until the parent kills this process by its PID.
"""

from __future__ import annotations

import sys
from pathlib import Path

from reconcile.apply import executor
from reconcile.apply.session import Scope, Session, Steps
from reconcile.bq.adapter import Adapter
from reconcile.bq.clients import local_client
from reconcile.spec.load import load_spec

PROJECT = "cbi-v14"


def main(argv: list[str]) -> int:
    endpoint, spec, approvals = argv[0], Path(argv[1]), tuple(argv[2:])
    desired = load_spec(spec, root=spec.parent.parent)
    run_id = executor.new_run_id()
    print(f"RUN_ID {run_id}", flush=True)
    adapter = Adapter(local_client(PROJECT, endpoint), PROJECT, run_id=run_id, emulator=True)
    n = [0]

    def progress(line: str) -> None:
        print(line, flush=True)
        n[0] += 1
        executor.pause(f"step:{n[0]}")  # a no-op unless it is the point

    session = Session(desired, adapter, run_id=run_id, target="local", scope=Scope(approvals=approvals),
                      verify_whole=True, steps=Steps(progress=progress))
    applied = session.apply(session.plan())
    print(f"EXIT {applied.exit_code}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
