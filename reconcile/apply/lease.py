"""The project's apply lease (`<ops>.lease`): one apply at a time, CLI or Prefect.

`lease()` takes it with one conditional INSERT, then reads it back (only the earliest
live holder proceeds, so two racing runs never both do), renews it from a heartbeat
thread while held and releases it on exit; a crashed run's lease expires on its own.
`break_lease` removes a dead run's lease by its run id (a human decision).
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
          ttl_seconds: int = LEASE_TTL_SECONDS) -> Iterator[None]:
    """Hold the project's apply lease (<ops>.lease) for the block: one apply at a time.

    Taken with one conditional INSERT, then read back (only the earliest live holder
    proceeds, so two racing runs never both do). Renewed every ttl/3 seconds while
    held; a crashed run's lease expires after `ttl_seconds`. Raises LeaseHeld when
    another run holds it after waiting `wait_seconds`."""
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

    def heartbeat() -> None:
        while not stop.wait(max(1.0, ttl_seconds / 3)):
            try:
                adapter.execute(_lease_sql(adapter, ops, "lease_renew"), location=loc, what="renew lease",
                                params=[param("holder", run_id), param("ttl_seconds", int(ttl_seconds))])
            except Exception as e:  # noqa: BLE001 - retried at the next beat
                log.warning("could not renew the lease: %s", e)

    beat = threading.Thread(target=heartbeat, name="reconcile-lease", daemon=True)
    beat.start()
    log.info("lease on %s taken by run %s", adapter.project, run_id)
    try:
        yield
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


def break_lease(adapter: Adapter, desired: DesiredState, holder: str) -> None:
    """Remove a dead run's lease by its run id (a human decision, e.g. after kill -9)."""
    ops = desired.ops_dataset
    loc = adapter.dataset_location(ops)
    if loc is None or not adapter.table_exists(f"{ops}.{LEASE_TABLE}"):
        return
    adapter.execute(_lease_sql(adapter, ops, "lease_release"), location=loc, what="break lease",
                    params=[param("holder", holder)])
