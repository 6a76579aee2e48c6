"""The Prefect flows against the local BigQuery, under one session-scoped test server.

Each test writes a small spec under its own dataset prefix (real staging Parquet from
the demo data), runs flows in-process against the session's `prefect_test_harness`,
and checks the final state, the artifacts, task-run attempts and emitted events.
Nothing here mocks BigQuery: the transient-error test puts a loopback proxy that
answers some requests with errors between the real client and the real emulator.
"""

from __future__ import annotations

import json
import time

import inspect
from pathlib import Path

import pytest
from flow_faults import FaultProxy
from flow_helpers import artifacts_of, drift_events, flow_run_id, task_runs_of, write_spec

from flows.drift_flow import drift_detection
from flows.pipeline import concurrency_limit_name
from flows.reconcile_flow import create, load, reconcile
from reconcile.cli import main as cli
from reconcile.apply.lease import lease
from reconcile.bq.adapter import Adapter
from reconcile.spec.load import load_spec

pytestmark = [pytest.mark.prefect, pytest.mark.integration,
              pytest.mark.usefixtures("prefect_server", "flow_env")]


@pytest.fixture
def spec(tmp_path: Path, ds_prefix: str, staging_files: Path) -> Path:
    return write_spec(tmp_path / "project", ds_prefix, staging_files)


def test_reconcile_converges_then_is_a_noop(spec: Path, ds_prefix: str, bq):
    state = reconcile(spec=str(spec), return_state=True)
    assert state.is_completed(), state.message
    assert state.message.startswith("converged")
    assert bq.count_rows(f"{ds_prefix}market.vix_daily") > 1000
    arts = artifacts_of(state)
    assert set(arts) == {"reconcile-plan-cbi-v14", "reconcile-result-cbi-v14", "reconcile-outcomes-cbi-v14"}
    result = arts["reconcile-result-cbi-v14"]
    assert "converged" in result and "No drift" in result
    # per object: outcome, observed values, timings
    # into the empty table: one WRITE_EMPTY load job (issue 16), reported as such
    assert f"- `{ds_prefix}market.vix_daily` · MergeLoad · ✓ done in " in result
    assert "s: loaded 1,259 file rows into the empty table" in result
    # the table artifact: the same outcomes, one column per field (issue 15)
    table = json.loads(arts["reconcile-outcomes-cbi-v14"])
    load = next(r for r in table if r["step"] == "MergeLoad")
    assert load["object"] == f"{ds_prefix}market.vix_daily" and load["outcome"] == "done"
    assert "in sync" not in arts["reconcile-plan-cbi-v14"] and "exit code" not in arts["reconcile-plan-cbi-v14"]
    assert "changes pending" in arts["reconcile-plan-cbi-v14"]
    assert "rows_after=" in result and "**Timings:**" in result
    assert f"{ds_prefix}market.vix_daily" in arts["reconcile-plan-cbi-v14"]

    again = reconcile(spec=str(spec), return_state=True)
    assert again.is_completed(), again.message
    assert again.message.startswith("in sync: nothing to apply")
    assert cli.main(["plan", "--spec", str(spec)]) == 0


def test_drift_detection_completed_then_failed_with_event_and_artifact(spec: Path, ds_prefix: str, bq):
    assert reconcile(spec=str(spec), return_state=True).is_completed()
    clean = drift_detection(spec=str(spec), return_state=True)
    assert clean.is_completed(), clean.message
    assert artifacts_of(clean) == {}

    # Out of band: a table dropped, a dataset recreated in the wrong region.
    bq.delete_table(f"{ds_prefix}market.vix_daily")
    bq.delete_dataset(f"{ds_prefix}signals")
    bq.create_dataset(f"{ds_prefix}signals", "EU")

    drifted = drift_detection(spec=str(spec), return_state=True)
    assert drifted.is_failed()
    assert "CreateTable 1" in drifted.message and "FlagRecreate 1" in drifted.message
    art = artifacts_of(drifted)["drift-cbi-v14"]
    assert f"**CreateTable** `{ds_prefix}market.vix_daily`" in art
    assert f"**FlagRecreate** `{ds_prefix}signals`" in art and "EU" in art

    events = drift_events(flow_run_id(drifted))
    assert len(events) == 1, "one reconcile.drift.detected event per drifted run"
    ev = events[0]
    assert ev.resource.id == "reconcile.project.cbi-v14"
    assert ev.payload["counts"]["CreateTable"] == 1 and ev.payload["counts"]["FlagRecreate"] == 1
    assert ev.payload["run_id"] and ev.payload["total"] == sum(ev.payload["counts"].values())
    # drift detection never applies
    assert not bq.table_exists(f"{ds_prefix}market.vix_daily")
    assert bq.dataset_location(f"{ds_prefix}signals") == "EU"


def test_single_flow_runs_touch_only_their_kind(spec: Path, ds_prefix: str, bq):
    created = create(spec=str(spec), return_state=True)
    assert created.is_completed(), created.message
    assert bq.table_exists(f"{ds_prefix}market.vix_daily")
    assert bq.count_rows(f"{ds_prefix}market.vix_daily") == 0, "create must not load"
    assert not bq.table_exists(f"{ds_prefix}ops.load_ledger")
    applied = [t.name.split(" ")[1] for t in task_runs_of(created) if t.name[:3].isdigit()]
    assert applied and set(applied) <= {"CreateDataset", "CreateTable"}
    result = artifacts_of(created)["create-result-cbi-v14"]
    assert "· MergeLoad ·" not in result  # no load ran (the reason names the one left to do)
    # The run answers for its kinds, and says the project still differs elsewhere (issue 15).
    assert "outside this run's scope: 1 difference(s): MergeLoad 1" in created.message, created.message

    # what is left is the load (and its validation): drift, which the load flow handles
    assert drift_detection(spec=str(spec), return_state=True).is_failed()
    loaded = load(spec=str(spec), return_state=True)
    assert loaded.is_completed(), loaded.message
    applied = [t.name.split(" ")[1] for t in task_runs_of(loaded) if t.name[:3].isdigit()]
    assert applied == ["MergeLoad"]
    assert bq.count_rows(f"{ds_prefix}market.vix_daily") > 1000
    assert reconcile(spec=str(spec), return_state=True).message.startswith("in sync")


def test_transient_error_is_retried_and_the_run_converges(spec: Path, ds_prefix: str, emulator,
                                                          monkeypatch: pytest.MonkeyPatch):
    with FaultProxy(emulator.endpoint) as proxy:
        monkeypatch.setenv("BIGQUERY_EMULATOR_HOST", proxy.endpoint)
        # 7 x 503 on creating one dataset: the adapter's 6 attempts (1 + 5 retries) fail,
        # Prefect retries the task, whose first attempt meets the 7th 503 and the next succeeds.
        attempts = 1 + inspect.signature(Adapter).parameters["retries"].default
        proxy.fail("POST", r"/datasets$", times=attempts + 1, body_contains=f'"{ds_prefix}market"')
        state = reconcile(spec=str(spec), return_state=True)
    assert state.is_completed(), state.message
    assert len(proxy.injected) == attempts + 1
    runs = {t.name: t for t in task_runs_of(state)}
    retried = [t for n, t in runs.items() if n.endswith(f"CreateDataset {ds_prefix}market")]
    assert len(retried) == 1 and retried[0].run_count == 2
    assert all(t.run_count == 1 for n, t in runs.items() if t not in retried)
    result = artifacts_of(state)["reconcile-result-cbi-v14"]
    assert f"- `{ds_prefix}market` · CreateDataset · ✓ done in " in result
    assert "s: created in us-central1 (location=us-central1; 2 attempts)" in result


def test_logic_error_is_not_retried_and_the_run_fails(spec: Path, ds_prefix: str, emulator,
                                                      monkeypatch: pytest.MonkeyPatch, bq):
    with FaultProxy(emulator.endpoint) as proxy:
        monkeypatch.setenv("BIGQUERY_EMULATOR_HOST", proxy.endpoint)
        proxy.fail("POST", r"/datasets$", times=1, body_contains=f'"{ds_prefix}market"',
                   status=400, reason="invalid")
        state = reconcile(spec=str(spec), return_state=True)
    assert state.is_failed()
    assert f"CreateDataset:{ds_prefix}market failed" in state.message
    assert len(proxy.injected) == 1
    failed = [t for t in task_runs_of(state) if t.name.endswith(f"CreateDataset {ds_prefix}market")]
    assert len(failed) == 1 and failed[0].run_count == 1 and failed[0].state.is_failed()
    result = artifacts_of(state)["reconcile-result-cbi-v14"]
    assert "✗ not converged" in result and "not run: it depends on a step that failed" in result
    assert bq.dataset_location(f"{ds_prefix}market") is None


def test_dry_run_changes_nothing(spec: Path, ds_prefix: str, bq):
    state = reconcile(spec=str(spec), dry_run=True, return_state=True)
    assert state.is_completed() and state.message.startswith("dry run")
    assert bq.dataset_location(f"{ds_prefix}market") is None
    assert "would create dataset" in artifacts_of(state)["reconcile-result-cbi-v14"]


def test_one_apply_per_project(spec: Path, ds_prefix: str, bq):
    """The Prefect global concurrency limit, then the apply lease, each stop a second apply."""
    from prefect.client.orchestration import get_client
    from prefect.concurrency.sync import concurrency

    name = concurrency_limit_name("cbi-v14")
    with get_client(sync_client=True) as c:
        c.upsert_global_concurrency_limit_by_name(name, limit=1)
    with concurrency(name, occupy=1, strict=True):
        busy = reconcile(spec=str(spec), wait_seconds=1, return_state=True)
    assert busy.is_failed() and "holds the concurrency limit" in busy.message
    assert bq.dataset_location(f"{ds_prefix}market") is None
    # The slot is released when the block ends; under load the server can take a moment to
    # show it free (a busy run's acquire that timed out client-side may still be granted
    # and released there). The lease part below needs the slot free: wait until it is.
    deadline = time.monotonic() + 90
    with get_client(sync_client=True) as c:
        while c.read_global_concurrency_limit_by_name(name).active_slots and time.monotonic() < deadline:
            time.sleep(1)
        assert not c.read_global_concurrency_limit_by_name(name).active_slots, "the slot was never released"

    desired = load_spec(spec)
    with lease(bq, desired, "test-holder"):
        held = reconcile(spec=str(spec), wait_seconds=0, return_state=True)
    assert held.is_failed() and "holds the lease" in held.message
    assert bq.dataset_location(f"{ds_prefix}market") is None
    assert reconcile(spec=str(spec), return_state=True).is_completed()
