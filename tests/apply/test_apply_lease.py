"""The apply lease: one apply at a time on a project (<ops>.lease), against the local BigQuery."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from apply_helpers import write_spec
from reconcile.apply import lease as leases
from reconcile.local import emulator as local
from reconcile.bq.adapter import Adapter, local_client

pytestmark = pytest.mark.integration


def spec(project_root: Path, p: str):
    return write_spec(project_root, f"""\
        version: 1
        project: cbi-v14
        default_location: us-central1
        ops_dataset: {p}ops
        datasets:
          {p}ops: {{}}
        """)


def test_second_lease_is_refused_while_the_first_is_held(adapter: Adapter, ds_prefix: str,
                                                         project_root: Path) -> None:
    desired = spec(project_root, ds_prefix)
    with leases.lease(adapter, desired, "run-a"):
        assert dict(adapter.list_datasets())[f"{ds_prefix}ops"] == "us-central1"  # created for it
        with pytest.raises(leases.LeaseHeld) as info:
            with leases.lease(adapter, desired, "run-b"):
                pytest.fail("two applies held the lease")
        assert info.value.holder == "run-a"
        assert "another apply holds the lease on cbi-v14: run run-a since" in str(info.value)
        assert leases.lease_holder(adapter, desired)["holder"] == "run-a"
        t0 = time.monotonic()
        with pytest.raises(leases.LeaseHeld):
            with leases.lease(adapter, desired, "run-c", wait_seconds=1.0):
                pass
        assert time.monotonic() - t0 >= 1.0
    # Released on exit: the next run takes it.
    with leases.lease(adapter, desired, "run-b"):
        assert leases.lease_holder(adapter, desired)["holder"] == "run-b"
    assert leases.lease_holder(adapter, desired) is None


def test_a_dead_runs_lease_expires_and_can_be_broken(adapter: Adapter, ds_prefix: str,
                                                      project_root: Path) -> None:
    desired = spec(project_root, ds_prefix)
    loc = leases._lease_setup(adapter, desired)
    # A run that took the lease and died (no heartbeat, no release), with a 1 s lease.
    assert leases._try_take(adapter, desired.ops_dataset, loc, "dead-run", ttl=1) is None
    with pytest.raises(leases.LeaseHeld):
        with leases.lease(adapter, desired, "run-b"):
            pass
    time.sleep(1.2)
    with leases.lease(adapter, desired, "run-b"):
        pass
    # A long lease of a killed run: broken by hand, by its run id.
    assert leases._try_take(adapter, desired.ops_dataset, loc, "killed-run", ttl=3600) is None
    # Renewed just now, as far as the row says: refused unless forced (issue 18).
    with pytest.raises(leases.LeaseLive, match="within the last third"):
        leases.break_lease(adapter, desired, "killed-run", ttl_seconds=3600)
    leases.break_lease(adapter, desired, "killed-run", ttl_seconds=3600, force=True)
    with leases.lease(adapter, desired, "run-c"):
        pass


def test_racing_runs_never_both_hold_the_lease(emulator: local.LocalEmulator, ds_prefix: str,
                                               project_root: Path) -> None:
    desired = spec(project_root, ds_prefix)
    leases._lease_setup(Adapter(local_client("cbi-v14", emulator.endpoint), "cbi-v14"), desired)
    holding: list[str] = []
    refused: list[str] = []
    overlaps: list[str] = []
    inside = threading.Lock()
    start = threading.Barrier(4)

    def run(name: str) -> None:
        ad = Adapter(local_client("cbi-v14", emulator.endpoint), "cbi-v14", run_id=name)
        start.wait()
        try:
            with leases.lease(ad, desired, name):
                if not inside.acquire(blocking=False):
                    overlaps.append(name)
                    return
                holding.append(name)
                time.sleep(0.3)
                inside.release()
        except leases.LeaseHeld:
            refused.append(name)

    threads = [threading.Thread(target=run, args=(f"run-{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not overlaps, f"{overlaps} held the lease while another run did"
    assert len(holding) >= 1 and len(holding) + len(refused) == 4


def test_break_lease_allows_a_lease_not_renewed_for_a_third_of_its_ttl(adapter: Adapter, ds_prefix: str,
                                                                        project_root: Path) -> None:
    desired = spec(project_root, ds_prefix)
    loc = leases._lease_setup(adapter, desired)
    # 100 s left of a 900 s lease: last renewed ~800 s ago, its run no longer renews it.
    assert leases._try_take(adapter, desired.ops_dataset, loc, "stale-run", ttl=100) is None
    leases.break_lease(adapter, desired, "stale-run")
    assert leases.lease_holder(adapter, desired) is None


def test_a_run_whose_renewal_matches_no_row_stops_before_its_next_action(adapter: Adapter, ds_prefix: str,
                                                                         project_root: Path) -> None:
    """The heartbeat's UPDATE matched 0 rows (the lease was broken): the run is told, and
    the session's executor runs nothing more (issue 18: two applies ran at once)."""
    from reconcile.apply.run import Run
    from reconcile.apply.session import _while_held
    from reconcile.plan.actions import CreateDataset, Plan

    desired = spec(project_root, ds_prefix)
    other = Adapter(adapter.client, "cbi-v14")
    with leases.lease(adapter, desired, "live-run", ttl_seconds=2) as held:
        assert held.lost is None
        leases.break_lease(other, desired, "live-run", ttl_seconds=2, force=True)
        deadline = time.monotonic() + 10
        while held.lost is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert held.lost and "matched no row" in held.lost
        action = CreateDataset(name=f"{ds_prefix}never", location="us-central1")
        run = Run(Plan(project="cbi-v14", actions=(action,)), desired, adapter, run_id="live-run")
        outcome = _while_held(held, None)(run, action)
    assert outcome.status == "failed" and "not run: the lease renewal matched no row" in outcome.detail
    assert f"{ds_prefix}never" not in dict(adapter.list_datasets())


def test_the_lease_is_one_row_taken_by_merge(adapter: Adapter, ds_prefix: str, project_root: Path) -> None:
    """Taking the lease updates the one lease row (a mutating MERGE: BigQuery serializes
    two of them on a table) instead of inserting a row per taker."""
    desired = spec(project_root, ds_prefix)
    for run in ("run-1", "run-2", "run-3"):
        with leases.lease(adapter, desired, run):
            pass
    rows = adapter.query(f"SELECT holder FROM {adapter.q(ds_prefix + 'ops.lease')}")
    assert rows == [{"holder": ""}]
