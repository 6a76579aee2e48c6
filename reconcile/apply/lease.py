"""The project's apply lease (`<ops>.lease`): one apply at a time, CLI or Prefect.

`lease()` takes it with one MERGE on the lease row (BigQuery serializes mutating DML on
a table, so two racing takers cannot both win; sql/ops/lease_take.sql), then reads it
back (only the earliest live holder proceeds), renews it from a heartbeat thread every
ttl/4 while held and releases it on exit; a crashed run's lease expires on its own.
A renewal that matches no row means the lease was broken or taken: the `Held` handle it
yields says so (`lost`), and the apply session runs no further action (issue 18).
`break_lease` removes a dead run's lease by its run id (a human decision); it refuses a
lease renewed within the last third of its TTL (its holder is alive) unless forced.
"""

from __future__ import annotations

import logging
import threading
import time
from contextlib import contextmanager
from typing import Any, Iterator

from reconcile.apply.context import EXECUTOR_LOG, Context, sql
from reconcile.bq.adapter import Adapter, BigQueryError, param
from reconcile.bq.sqltext import qtable
from reconcile.plan.actions import Plan
from reconcile.spec.model import DesiredState

log = logging.getLogger(EXECUTOR_LOG)

LEASE_TABLE = "lease"
LEASE_TTL_SECONDS = 900


class Busy(RuntimeError):
    """Another apply holds the project (its lease, or a hold the caller added, such as
    Prefect's concurrency slot): nothing was applied."""


class LeaseLive(RuntimeError):
    """--break-lease of a lease whose holder renewed it recently: it is running."""


class Held:
    """The lease as its holder sees it: `lost` is why it no longer holds it (None while
    it does). Set by the heartbeat; read by the apply session before each action."""

    def __init__(self, run_id: str):
        self.run_id = run_id
        self.lost: str | None = None
        self.renewed = time.monotonic()


class LeaseHeld(Busy):
    """Another apply holds the project's lease."""

    def __init__(self, holder: str, since: Any, expires: Any = None, project: str = ""):
        self.holder = holder
        self.since = since
        self.expires = expires
        where = f" on {project}" if project else ""
        until = f", until {expires}" if expires else ""
        super().__init__(f"another apply holds the lease{where}: run {holder} since {since}{until}. "
                         "Wait for it (--wait-lease SECONDS); a crashed run's lease expires on its own")


def _lease_sql(adapter: Adapter, ops: str, name: str) -> str:
    return sql(f"ops/{name}.sql", table=qtable(adapter.project, ops, LEASE_TABLE))


def _lease_setup(adapter: Adapter, desired: DesiredState) -> str:
    ctx = Context(Plan(project=desired.project, actions=()), desired, adapter, "")
    _, loc = ctx.ops_table(LEASE_TABLE)
    # The lease row, held by nobody, so that taking it is a MERGE that updates it.
    adapter.execute(_lease_sql(adapter, desired.ops_dataset, "lease_seed"), location=loc, what="seed lease")
    return loc


def _try_take(adapter: Adapter, ops: str, loc: str, run_id: str, ttl: int) -> dict | None:
    """Take the lease; None if ours, else the live holder's row."""
    for _ in range(3):
        adapter.execute(_lease_sql(adapter, ops, "lease_take"), location=loc, what="take lease",
                        params=[param("holder", run_id), param("ttl_seconds", int(ttl))])
        holders = adapter.query(_lease_sql(adapter, ops, "lease_holders"), location=loc, what="read lease")
        if not holders:
            continue  # the previous lease expired between the two statements: try again
        if holders[0]["holder"] == run_id:
            return None
        if any(h["holder"] == run_id for h in holders):  # lost a race: step back
            adapter.execute(_lease_sql(adapter, ops, "lease_release"), location=loc, what="release lease",
                            params=[param("holder", run_id)])
        return holders[0]
    raise BigQueryError("could not take or read the lease")


@contextmanager
def lease(adapter: Adapter, desired: DesiredState, run_id: str, *, wait_seconds: float = 0,
          ttl_seconds: int = LEASE_TTL_SECONDS) -> Iterator[Held]:
    """Hold the project's apply lease (<ops>.lease) for the block: one apply at a time.

    Taken with one MERGE on the lease row, then read back (only the earliest live holder
    proceeds, so two racing runs never both do). Renewed every ttl/4 seconds while held
    (so a live holder is always renewed within the last third of its TTL: --break-lease
    refuses it); a crashed run's lease expires after `ttl_seconds`. Yields a `Held` whose
    `lost` is set when a renewal matches no row (broken, or taken after it expired) or
    none succeeded for a whole TTL. Raises LeaseHeld when another run holds it after
    waiting `wait_seconds`."""
    ops = desired.ops_dataset
    loc = _lease_setup(adapter, desired)
    deadline = time.monotonic() + max(0.0, wait_seconds)
    while True:
        holder = _try_take(adapter, ops, loc, run_id, ttl_seconds)
        if holder is None:
            break
        if time.monotonic() >= deadline:
            raise LeaseHeld(holder["holder"], holder["acquired_at"], holder.get("expires_at"),
                            adapter.project)
        time.sleep(min(5.0, max(0.1, deadline - time.monotonic())))
    stop = threading.Event()
    held = Held(run_id)

    def heartbeat() -> None:
        while not stop.wait(max(0.5, ttl_seconds / 4)) and held.lost is None:
            try:
                n = adapter.execute(_lease_sql(adapter, ops, "lease_renew"), location=loc, what="renew lease",
                                    params=[param("holder", run_id), param("ttl_seconds", int(ttl_seconds))])
            except Exception as e:  # noqa: BLE001 - retried at the next beat, until the TTL runs out
                log.warning("could not renew the lease: %s", e)
                if time.monotonic() - held.renewed >= ttl_seconds:
                    held.lost = f"the lease could not be renewed for {ttl_seconds} s (it may have been taken)"
                continue
            if n == 0:
                held.lost = ("the lease renewal matched no row: the lease was broken or taken by another run")
                log.warning("run %s lost the lease: %s", run_id, held.lost)
            else:
                held.renewed = time.monotonic()

    beat = threading.Thread(target=heartbeat, name="reconcile-lease", daemon=True)
    beat.start()
    log.info("lease on %s taken by run %s", adapter.project, run_id)
    try:
        yield held
    finally:
        stop.set()
        beat.join(timeout=5)
        try:
            adapter.execute(_lease_sql(adapter, ops, "lease_release"), location=loc, what="release lease",
                            params=[param("holder", run_id)])
        except Exception as e:  # noqa: BLE001 - it expires on its own
            log.warning("could not release the lease (it expires in %ss): %s", ttl_seconds, e)


def lease_holder(adapter: Adapter, desired: DesiredState) -> dict | None:
    """The live lease row, if any (for status displays)."""
    ops = desired.ops_dataset
    loc = adapter.dataset_location(ops)
    if loc is None or not adapter.table_exists(f"{ops}.{LEASE_TABLE}"):
        return None
    rows = adapter.query(_lease_sql(adapter, ops, "lease_holders"), location=loc, what="read lease")
    return rows[0] if rows else None


def break_lease(adapter: Adapter, desired: DesiredState, holder: str, *, force: bool = False,
                ttl_seconds: int = LEASE_TTL_SECONDS) -> None:
    """Remove a dead run's lease by its run id (a human decision, e.g. after kill -9).
    A lease renewed within the last third of its TTL belongs to a run that is alive (it
    renews every ttl/4): refused with LeaseLive unless `force`."""
    ops = desired.ops_dataset
    loc = adapter.dataset_location(ops)
    if loc is None or not adapter.table_exists(f"{ops}.{LEASE_TABLE}"):
        return
    if not force:
        rows = adapter.query(sql("ops/lease_age.sql", table=qtable(adapter.project, ops, LEASE_TABLE)),
                             [param("holder", holder)], location=loc, what="read lease")
        left = rows[0]["seconds_left"] if rows else None
        if left is not None and left > ttl_seconds * 2 / 3:
            raise LeaseLive(f"--break-lease {holder}: its lease was renewed {ttl_seconds - left:.0f} s ago, within "
                            f"the last third of its {ttl_seconds} s TTL: the run is alive. Stop it first, wait "
                            f"{left - ttl_seconds * 2 / 3:.0f} s, or add --force")
    adapter.execute(_lease_sql(adapter, ops, "lease_release"), location=loc, what="break lease",
                    params=[param("holder", holder)])
