"""Helpers for the flow tests: a small spec, and reading what a flow run left in Prefect."""

from __future__ import annotations

import shutil
import textwrap
import time
from pathlib import Path
from typing import Any

PROJECT = "cbi-v14"


def write_spec(root: Path, p: str, staging: Path) -> Path:
    """A small warehouse: two datasets, one table loaded from a real staging file with a
    row floor, and the ops dataset; every name under the test's prefix `p`."""
    (root / "staging").mkdir(parents=True, exist_ok=True)
    shutil.copy(staging / "vix_daily.parquet", root / "staging" / "vix_daily.parquet")
    spec = root / "desired_state" / "spec.yaml"
    spec.parent.mkdir(parents=True, exist_ok=True)
    spec.write_text(textwrap.dedent(f"""\
        version: 1
        project: {PROJECT}
        default_location: us-central1
        ops_dataset: {p}ops
        targets:
          local: {{type: local}}
        datasets:
          {p}market: {{description: prices}}
          {p}signals: {{}}
          {p}ops: {{}}
        tables:
          {p}market.vix_daily:
            description: CBOE VIX daily close
            columns:
              - {{name: date, type: DATE, mode: REQUIRED}}
              - {{name: vix_close, type: FLOAT64}}
        loads:
          - {{source: staging/vix_daily.parquet, table: {p}market.vix_daily, keys: [date], min_rows: 1000}}
        """))
    return spec


def flow_run_id(state: Any) -> Any:
    return state.state_details.flow_run_id


def artifacts_of(state: Any) -> dict[str, str]:
    """key -> Markdown of the artifacts a flow run published."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    with get_client(sync_client=True) as c:
        arts = c.read_artifacts(artifact_filter=ArtifactFilter(
            flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id(state)])))
    return {a.key: a.data for a in arts}


def task_runs_of(state: Any) -> list[Any]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    with get_client(sync_client=True) as c:
        return c.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id(state)])))


def drift_events(flow_run: Any, timeout: float = 20.0) -> list[Any]:
    """The reconcile.drift.detected events a flow run emitted (events arrive asynchronously)."""
    from prefect.client.orchestration import get_client
    from prefect.events.filters import EventFilter, EventNameFilter
    from prefect.events.worker import EventsWorker

    EventsWorker.drain_all()
    deadline = time.monotonic() + timeout
    found: list[Any] = []
    while time.monotonic() < deadline:
        with get_client(sync_client=True) as c:
            page = c.read_events(filter=EventFilter(event=EventNameFilter(name=["reconcile.drift.detected"])),
                                 limit=50)
        found = [e for e in page.events if e.payload.get("flow_run_id") == str(flow_run)]
        if found:
            return found
        time.sleep(0.5)
    return found
