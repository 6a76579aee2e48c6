"""Relocation by cross-region dataset replication (the `replica` strategy), step by step,
each step checkpointed like the copy strategy's, resumable after a crash.

Steps (https://cloud.google.com/bigquery/docs/data-replication): ADD REPLICA in the new
location; wait until SCHEMATA_REPLICAS says its first full sync is complete; promote it
(`SET OPTIONS(primary_replica=...)`); DROP REPLICA the old one. The statements are the plan's,
rendered from sql/relocation/ and checked again here by the SQL layer before any is sent.
Nothing is deleted: the old replica is dropped only once the new one is complete and primary.

Every step looks at the dataset's replicas first (sql/relocation/replicas.sql, read in the new
location), so a step that happened before a crash, but before its checkpoint, is not sent again
(BigQuery refuses a second ADD REPLICA and a DROP of a replica that is gone). A run resumed
after the promotion no longer knows the old location from the snapshot (the dataset is in the
new one now): it drops the one secondary replica it finds, and refuses to guess among several
(a replica the user keeps on purpose is never dropped).

Must not: delete a dataset or a table; send a statement the SQL layer did not check.
"""

from __future__ import annotations

import time

from reconcile import identifiers as ids
from reconcile.apply.context import Context, pause, sql
from reconcile.apply.results import ActionFailed, Done, done
from reconcile.bq.adapter import param
from reconcile.bq.sqltext import check_replica_statement, qregion, replica_statement
from reconcile.plan.actions import RelocateDataset

REPLICA_STEPS = ("add_replica", "wait_replica", "promote", "drop_replica", "done")
REPLICA_WAIT_S = 600.0
REPLICA_POLL_S = 15.0
# The statement each step sends, and the location it names (add and promote: the new one).
_CHECKED = ("add_replica", "promote", "drop_replica")


def remaining(resume_step: str | None) -> tuple[str, ...]:
    start = REPLICA_STEPS.index(resume_step) + 1 if resume_step in REPLICA_STEPS else 0
    return REPLICA_STEPS[start:]


def replicate(ctx: Context, a: RelocateDataset) -> Done:
    """Run the replica relocation's remaining steps, checkpointing each one."""
    if a.name == ctx.ops:
        raise ActionFailed(f"{a.name} is the ops dataset: move it by hand")
    left = remaining(a.resume_step)
    stmts = dict(a.statements)
    missing = [s for s in left if s in ("add_replica", "wait_replica", "promote") and s not in stmts]
    if missing:
        raise ActionFailed(f"the plan carries no statement for {', '.join(missing)}: re-plan")
    for step in _CHECKED:
        if step in left and step in stmts:
            loc = a.from_location if step == "drop_replica" else a.to_location
            try:
                check_replica_statement(step, stmts[step], ctx.adapter.project, a.name, loc)
            except ValueError as e:
                raise ActionFailed(f"replica statement refused: {e}") from None
    steps: list[str] = []
    for step in left:
        if step == "add_replica":
            if _replica(ctx, a, a.to_location) is None:
                ctx.adapter.execute(stmts[step], location=a.from_location, what=f"add replica of {a.name}")
        elif step == "wait_replica":
            _wait(ctx, a, stmts[step])
        elif step == "promote":
            new = _replica(ctx, a, a.to_location)
            if new is None:
                raise ActionFailed(f"{a.name} has no replica in {a.to_location}: not promoting")
            if not new["is_primary"]:
                ctx.adapter.execute(stmts[step], location=a.to_location, what=f"promote replica of {a.name}")
            # The primary is now in the new location: what was looked up before is stale.
            ctx.forget(a.name)
            ctx.adapter.dataset_location(a.name)
        elif step == "drop_replica":
            for stmt in _drops(ctx, a, stmts.get(step)):
                ctx.adapter.execute(stmt, location=a.to_location, what=f"drop old replica of {a.name}")
        ctx.checkpoint(a.name, step)
        steps.append(step)
        pause(f"relocate:{step}")
    resumed = f" (resumed after {a.resume_step})" if a.resume_step else ""
    return done(f"relocated {a.name} to {a.to_location} by dataset replication{resumed}", steps=steps,
                to_location=a.to_location)


def _replicas(ctx: Context, a: RelocateDataset) -> list[dict]:
    return ctx.adapter.query(sql("relocation/replicas.sql", region=qregion(a.to_location)),
                             [param("dataset", a.name)], location=a.to_location,
                             what=f"replicas of {a.name}")


def _replica(ctx: Context, a: RelocateDataset, location: str) -> dict | None:
    return next((r for r in _replicas(ctx, a) if ids.same_location(r["location"], location)), None)


def _wait(ctx: Context, a: RelocateDataset, stmt: str) -> None:
    deadline = time.monotonic() + REPLICA_WAIT_S
    while True:
        rows = ctx.adapter.query(stmt, [param("dataset", a.name), param("location", a.to_location)],
                                 location=a.to_location, what=f"replica of {a.name}")
        if rows and rows[0].get("replicas") and rows[0].get("ready"):
            return
        if time.monotonic() > deadline:
            raise ActionFailed(f"the replica of {a.name} in {a.to_location} is not complete yet: "
                               "apply again later to resume")
        time.sleep(REPLICA_POLL_S)


def _drops(ctx: Context, a: RelocateDataset, planned: str | None) -> list[str]:
    """The DROP REPLICA statements still to send: the planned one while the old replica is
    there; on a run resumed after the promotion (no planned statement), the one secondary
    replica found, rendered and checked by the SQL layer."""
    secondary = [r for r in _replicas(ctx, a)
                 if not r["is_primary"] and not ids.same_location(r["location"], a.to_location)]
    if planned is not None:
        old = [r for r in secondary if ids.same_location(r["location"], a.from_location)]
        return [planned] if old else []
    if len(secondary) > 1:
        raise ActionFailed(f"{a.name} has secondary replicas in {', '.join(r['location'] for r in secondary)}: "
                           "which one was the old primary is not recorded; drop it by hand "
                           "(ALTER SCHEMA ... DROP REPLICA), then re-plan")
    return [replica_statement("drop_replica", ctx.adapter.project, a.name, r["location"]) for r in secondary]
