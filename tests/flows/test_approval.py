"""Approval in the UI, through the Prefect test server's resume API.

A dataset of the spec sits in the wrong region and the run's parameters approve no
relocation: the reconcile run publishes the approval artifact and pauses. Resumed with
`approve: false`, it applies nothing and ends `NotApproved`; a second run, resumed with
approval and the fingerprint it showed, relocates the dataset and converges.
"""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from flow_helpers import write_spec

from flows.approval import NOT_APPROVED
from flows.reconcile_flow import reconcile

pytestmark = [pytest.mark.prefect, pytest.mark.integration,
              pytest.mark.usefixtures("prefect_server", "flow_env")]


def _start(spec: Path) -> tuple[threading.Thread, dict[str, Any]]:
    out: dict[str, Any] = {}

    def body() -> None:
        out["state"] = reconcile(spec=str(spec), approval_timeout_seconds=300, return_state=True)

    t = threading.Thread(target=body, daemon=True)
    t.start()
    return t, out


def _paused_run(spec: Path, timeout: float = 120.0) -> tuple[Any, str]:
    """The paused reconcile run of this spec, and the fingerprint its approval artifact shows."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        ArtifactFilter, ArtifactFilterFlowRunId, FlowRunFilter, FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType

    deadline = time.monotonic() + timeout
    with get_client(sync_client=True) as c:
        while time.monotonic() < deadline:
            runs = [r for r in c.read_flow_runs(flow_run_filter=FlowRunFilter(state=FlowRunFilterState(
                type=FlowRunFilterStateType(any_=[StateType.PAUSED])))) if r.parameters.get("spec") == str(spec)]
            if runs:
                arts = c.read_artifacts(artifact_filter=ArtifactFilter(
                    flow_run_id=ArtifactFilterFlowRunId(any_=[runs[0].id])))
                text = {a.key: a.data for a in arts}["reconcile-approval-cbi-v14"]
                return runs[0], text
            time.sleep(0.5)
    raise AssertionError("the reconcile run did not pause")


def test_unapproved_relocation_pauses_then_resume_with_approval_relocates(
        tmp_path: Path, ds_prefix: str, staging_files: Path, bq):
    from prefect.client.orchestration import get_client

    spec = write_spec(tmp_path / "project", ds_prefix, staging_files)
    bq.create_dataset(f"{ds_prefix}signals", "EU")  # declared in us-central1

    # 1. refused: nothing applied, and the run says so
    thread, out = _start(spec)
    run, text = _paused_run(spec)
    assert f"| RelocateDataset | `{ds_prefix}signals` |" in text
    fp = re.search(r"Plan fingerprint: `([0-9a-f]+)`", text).group(1)
    with get_client(sync_client=True) as c:
        c.resume_flow_run(run.id, run_input={"approve": False, "fingerprint": fp, "note": "not today"})
    thread.join(120)
    refused = out["state"]
    assert refused.is_failed() and refused.name == NOT_APPROVED, (refused.name, refused.message)
    assert refused.message == "approval refused (not today): nothing applied"
    assert bq.dataset_location(f"{ds_prefix}signals") == "EU"
    assert bq.dataset_location(f"{ds_prefix}market") is None, "a refused plan applies nothing of it"

    # 2. approved with the fingerprint shown: that plan is applied and the warehouse converges
    thread, out = _start(spec)
    run, text = _paused_run(spec)
    fp2 = re.search(r"Plan fingerprint: `([0-9a-f]+)`", text).group(1)
    assert f"| RelocateDataset | `{ds_prefix}signals` |" in text
    with get_client(sync_client=True) as c:
        c.resume_flow_run(run.id, run_input={"approve": True, "fingerprint": fp2})
    thread.join(300)
    state = out["state"]
    assert state.is_completed(), state.message
    assert state.message.startswith("converged"), state.message
    assert bq.dataset_location(f"{ds_prefix}signals") == "us-central1"
    assert bq.count_rows(f"{ds_prefix}market.vix_daily") > 1000
