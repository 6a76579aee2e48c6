"""Run records: a run's outcomes written to `<ops>.run_records`, one row per action.

The monitoring views read them (ingestion health, gate results: docs/monitoring.md).
Written once, when the run finishes, and only if the ops dataset exists: losing a
record is reported in the log, never a reason to fail a run whose work is done.
"""

from __future__ import annotations

import datetime as dt
import json
import logging

from reconcile.apply.context import EXECUTOR_LOG, Context
from reconcile.apply.results import ApplyResult

log = logging.getLogger(EXECUTOR_LOG)

RUN_RECORDS_TABLE = "run_records"
RUN_RECORDS_PER_INSERT = 200  # rows per INSERT statement (10 parameters each)


def write_run_records(ctx: Context, result: ApplyResult,
                      stamps: list[tuple[dt.datetime, dt.datetime]]) -> None:
    """Outcomes to <ops>.run_records, if the ops dataset exists (never created for this)."""
    try:
        rows = [{"run_id": result.run_id, "started_at": s, "finished_at": f, "action_key": o.key,
                 "kind": o.kind, "target": o.target, "status": o.status, "detail": o.detail[:10000],
                 "observed": json.dumps(o.observed, sort_keys=True, default=str),
                 "seconds": float(round(o.seconds, 3))}
                for o, (s, f) in zip(result.outcomes, stamps)]
        for i in range(0, len(rows), RUN_RECORDS_PER_INSERT):
            # The ops dataset as this run last saw it (every handler that creates, moves or
            # deletes a dataset forgets it): no get before the INSERT; one that fails
            # looks again (`Context.insert_ops`).
            if not ctx.insert_ops(RUN_RECORDS_TABLE, rows[i:i + RUN_RECORDS_PER_INSERT], create=False):
                log.info("no %s dataset: run records not written", ctx.ops)
                return
    except Exception as e:  # noqa: BLE001 - the run's work is done; losing its record is reported
        log.warning("could not write run records to %s.%s: %s", ctx.ops, RUN_RECORDS_TABLE, e)
