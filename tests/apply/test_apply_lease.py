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
    leases.break_lease(adapter, desired, "killed-run")
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
