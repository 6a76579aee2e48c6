"""Bounded waits and hostile paths (issue 18): `reconcile plan` against an endpoint that is
closed, never answers, answers HTTP 500 forever or answers garbage fails in seconds with
"cannot reach BigQuery at ENDPOINT: ...", and a spec or credentials path naming a FIFO,
a device or a file that is not a spec is refused at once, without echoing its content.

The misbehaving endpoints are real sockets on 127.0.0.1 (a listener that accepts and
never answers; an HTTP server that answers 500, or 200 with a body that is not JSON);
the BigQuery client is the official one, pointed there by BIGQUERY_EMULATOR_HOST.
Each command runs in process; the clock is the test's.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from reconcile.cli import main as cli

pytestmark = [pytest.mark.reliability]

REPO = Path(__file__).resolve().parents[2]
SPEC = str(REPO / "desired_state" / "cbi-v14.yaml")
LIMIT_S = 30.0  # the bound for a closed or silent endpoint


def _plan(capsys, monkeypatch, endpoint: str | None, *extra: str, env: dict | None = None) -> tuple[int, str, float]:
    if endpoint:
        monkeypatch.setenv("BIGQUERY_EMULATOR_HOST", endpoint)
    for k, v in (env or {}).items():
        monkeypatch.setenv(k, v)
    capsys.readouterr()
    start = time.monotonic()
    code = cli.main(["plan", "--no-color", *extra] if "--spec" in extra else ["plan", "--spec", SPEC, "--no-color", *extra])
    took = time.monotonic() - start
    out = capsys.readouterr()
    return code, out.err + out.out, took


def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    return port


@pytest.fixture
def silent_listener():
    """Accepts connections and never answers a byte."""
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", 0))
    s.listen(64)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept():
        s.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(s.accept()[0])
            except OSError:
                continue

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    yield f"127.0.0.1:{s.getsockname()[1]}"
    stop.set()
    t.join(2)
    for c in held:
        c.close()
    s.close()


def _http_server(status: int, body: bytes):
    class H(BaseHTTPRequestHandler):
        def _answer(self):
            n = int(self.headers.get("content-length") or 0)
            if n:
                self.rfile.read(n)
            self.send_response(status)
            self.send_header("content-type", "application/json; charset=UTF-8")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _answer

        def log_message(self, *a):  # quiet
            pass

    srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def _figure(figures, case: str, ok: bool, took: float) -> None:
    figures.append("red_team", {"suite": "waits", "case": case, "refused": ok, "seconds": round(took, 2)})


def test_closed_port_fails_fast_naming_the_endpoint(capsys, monkeypatch, figures) -> None:
    endpoint = f"127.0.0.1:{_closed_port()}"
    code, text, took = _plan(capsys, monkeypatch, endpoint)
    _figure(figures, "closed port", code == 1 and took < LIMIT_S, took)
    assert code == 1, text
    assert f"cannot reach BigQuery at http://{endpoint}: " in text and "refused" in text, text
    assert took < LIMIT_S, took


def test_an_endpoint_that_never_answers_fails_within_30_s(capsys, monkeypatch, silent_listener, figures) -> None:
    code, text, took = _plan(capsys, monkeypatch, silent_listener)
    _figure(figures, "silent endpoint", code == 1 and took < LIMIT_S, took)
    assert code == 1, text
    assert f"cannot reach BigQuery at http://{silent_listener}: " in text, text
    assert took < LIMIT_S, took


def test_http_500_forever_is_bounded_by_the_deadline(capsys, monkeypatch, figures) -> None:
    srv = _http_server(500, b'{"error": {"code": 500, "message": "backendError", "errors": []}}')
    try:
        endpoint = f"127.0.0.1:{srv.server_address[1]}"
        code, text, took = _plan(capsys, monkeypatch, endpoint, env={"RECONCILE_BQ_DEADLINE_S": "6"})
    finally:
        srv.shutdown()
    _figure(figures, "HTTP 500 forever (deadline 6 s)", code == 1, took)
    assert code == 1, text
    assert f"cannot reach BigQuery at http://{endpoint}: " in text and "500" in text, text
    assert took < 6 + 15, took  # the deadline, plus at most one backoff sleep of the client


def test_garbage_json_names_the_endpoint(capsys, monkeypatch, figures) -> None:
    srv = _http_server(200, b'{"kind": "bigquery#datasetList", "datasets": []} trailing garbage')
    try:
        endpoint = f"127.0.0.1:{srv.server_address[1]}"
        code, text, took = _plan(capsys, monkeypatch, endpoint)
    finally:
        srv.shutdown()
    _figure(figures, "garbage JSON", code == 1, took)
    assert code == 1, text
    assert f"cannot reach BigQuery at http://{endpoint}: the answer to GET is not JSON" in text, text
    assert "Extra data" in text and took < LIMIT_S


@pytest.mark.parametrize("kind", ["fifo", "dev_zero", "directory"])
def test_spec_path_that_is_not_a_regular_file_is_refused_at_once(kind: str, tmp_path: Path, capsys,
                                                                 monkeypatch) -> None:
    path = {"fifo": tmp_path / "spec.yaml", "dev_zero": Path("/dev/zero"), "directory": tmp_path}[kind]
    if kind == "fifo":
        os.mkfifo(path)
    code, text, took = _plan(capsys, monkeypatch, None, "--spec", str(path))
    assert code == 1 and "cannot read: not a regular file" in text, text
    assert took < 5, took


def test_spec_over_the_size_cap_is_refused_unread(tmp_path: Path, capsys, monkeypatch) -> None:
    big = tmp_path / "spec.yaml"
    with big.open("wb") as f:
        f.truncate((8 << 20) + 1)  # sparse: the cap is judged on the size, before any read
    code, text, _ = _plan(capsys, monkeypatch, None, "--spec", str(big))
    assert code == 1 and "over the 8,388,608-byte cap" in text, text


def test_a_file_that_is_not_a_spec_is_never_echoed(tmp_path: Path, capsys, monkeypatch) -> None:
    """`--spec /etc/shadow`: its first line was printed as an 'unknown key'."""
    secret = "root:$6$Zq1d9sQk$Pp0SECRETHASHvalue:19000:0:99999:7:::"
    shadow = tmp_path / "shadow"
    shadow.write_text(f"{secret}\ndaemon: '*:19000:0:99999:7:::'\nbin: x\n", encoding="utf-8")
    code, text, _ = _plan(capsys, monkeypatch, None, "--spec", str(shadow))
    assert code == 1 and "not a bq-reconcile spec" in text, text
    for piece in ("SECRETHASH", "daemon", "19000", "root"):
        assert piece not in text, text


def test_credentials_path_naming_a_fifo_is_refused_at_once(tmp_path: Path, capsys, monkeypatch) -> None:
    fifo = tmp_path / "key.json"
    os.mkfifo(fifo)
    monkeypatch.delenv("BIGQUERY_EMULATOR_HOST", raising=False)
    code, text, took = _plan(capsys, monkeypatch, None, "--target", "bigquery",
                             env={"GOOGLE_APPLICATION_CREDENTIALS": str(fifo)})
    assert code == 1 and "GOOGLE_APPLICATION_CREDENTIALS: not a regular file (a FIFO)" in text, text
    assert took < 5, took
