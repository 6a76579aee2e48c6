"""The shipped drift alert fires: flows/drift_alert.yaml applied to the session's Prefect
test server (flows.alerts), a drift-detection run that ends `Drifted`, and the
notification it sends arriving at a loopback webhook (the Custom Webhook block the
alert creates). The server's own trigger and action services do the work: nothing
here calls the notification."""

from __future__ import annotations

import json
import queue
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Iterator

import pytest
from flow_helpers import write_spec

from flows.alerts import ALERTS_FILE, apply_alerts
from flows.drift_flow import DRIFTED, drift_detection
from flows.reconcile_flow import create

pytestmark = [pytest.mark.prefect, pytest.mark.integration,
              pytest.mark.usefixtures("prefect_server", "flow_env")]


@pytest.fixture
def webhook() -> Iterator[tuple[str, "queue.Queue[dict]"]]:
    """A loopback HTTP endpoint; each JSON body POSTed to it lands in the queue."""
    received: queue.Queue[dict] = queue.Queue()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's naming
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            received.put(json.loads(body or b"{}"))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):  # quiet
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/drift", received
    finally:
        server.shutdown()
        server.server_close()


def test_drift_run_ends_drifted_and_the_shipped_automation_notifies(
        tmp_path: Path, ds_prefix: str, staging_files: Path, webhook, bq):
    from prefect.client.orchestration import get_client

    url, received = webhook
    first = apply_alerts(ALERTS_FILE, webhook_url=url)
    assert "reconcile-drift-alert (created)" in first
    assert "reconcile-drift-alert (updated)" in apply_alerts(ALERTS_FILE, webhook_url=url)
    with get_client(sync_client=True) as c:
        assert len(c.read_automations_by_name("reconcile-drift-alert")) == 1, "applying twice keeps one"

    spec = write_spec(tmp_path / "project", ds_prefix, staging_files)
    assert create(spec=str(spec), return_state=True).is_completed()  # datasets and table, not loaded
    t0 = time.monotonic()
    drifted = drift_detection(spec=str(spec), return_state=True)
    assert drifted.is_failed() and drifted.name == DRIFTED, (drifted.name, drifted.message)
    assert "MergeLoad" in drifted.message

    deadline = time.monotonic() + 60
    note = None
    while time.monotonic() < deadline:
        try:
            note = received.get(timeout=1)
        except queue.Empty:
            continue
        if ds_prefix in note.get("body", "") or "cbi-v14" in note.get("subject", ""):
            break
    assert note is not None, f"no notification within {time.monotonic() - t0:.0f}s of the drift run"
    assert note["subject"] == "Drift on cbi-v14 (target local)"
    assert "MergeLoad" in note["body"] and str(drifted.state_details.flow_run_id) in note["body"]
    assert note["name"] == "reconcile-drift-alert"
