"""A loopback HTTP proxy in front of the local BigQuery that fails chosen requests.

Bound to 127.0.0.1 on a free port, it forwards every request to the emulator
unchanged, except the first N that match a rule (method, path pattern, and a
string the body must contain), which it answers itself with an error in BigQuery's
JSON error format. It is bounded: it serves at most `max_requests` requests and
runs only inside the test that started it. The BigQuery client is not mocked: the
real client talks HTTP to a real server, some of whose answers are errors.
"""

from __future__ import annotations

import http.client
import json
import re
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host", "proxy-connection"}


@dataclass
class Rule:
    method: str
    path: re.Pattern
    body_contains: str | None
    remaining: int
    status: int
    reason: str


class FaultProxy:
    def __init__(self, upstream: str, *, max_requests: int = 5000):
        u = urlsplit(upstream)
        self.upstream = (u.hostname or "127.0.0.1", u.port or 80)
        self.max_requests = max_requests
        self.rules: list[Rule] = []
        self.injected: list[str] = []
        self.served = 0
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def _body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    out = b""
                    while True:
                        size = int(self.rfile.readline().strip() or b"0", 16)
                        if size == 0:
                            self.rfile.readline()
                            return out
                        out += self.rfile.read(size)
                        self.rfile.readline()
                n = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(n) if n else b""

            def _handle(self) -> None:
                body = self._body()
                fault = proxy._match(self.command, self.path, body)
                if fault is not None:
                    self._send(fault.status, json.dumps({"error": {
                        "code": fault.status, "message": f"injected by the test proxy ({fault.reason})",
                        "errors": [{"reason": fault.reason, "message": "injected by the test proxy",
                                    "domain": "global"}],
                        "status": "UNAVAILABLE" if fault.status == 503 else "INVALID_ARGUMENT"}}).encode(),
                        {"Content-Type": "application/json; charset=UTF-8"})
                    return
                conn = http.client.HTTPConnection(*proxy.upstream, timeout=120)
                try:
                    headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP}
                    headers["Content-Length"] = str(len(body))
                    conn.request(self.command, self.path, body=body, headers=headers)
                    r = conn.getresponse()
                    data = r.read()
                    self._send(r.status, data, {k: v for k, v in r.getheaders() if k.lower() not in _HOP})
                finally:
                    conn.close()

            def _send(self, status: int, data: bytes, headers: dict[str, str]) -> None:
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.endpoint = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="fault-proxy", daemon=True)

    def fail(self, method: str, path_pattern: str, times: int, *, body_contains: str | None = None,
             status: int = 503, reason: str = "serviceUnavailable") -> None:
        """Answer the next `times` matching requests with `status` instead of forwarding them.

        The default (503, reason serviceUnavailable) is an error the BigQuery client does
        not retry itself, so it reaches the adapter's retries and, past them, Prefect's."""
        with self._lock:
            self.rules.append(Rule(method.upper(), re.compile(path_pattern), body_contains, times,
                                   status, reason))

    def _match(self, method: str, path: str, body: bytes) -> Rule | None:
        with self._lock:
            self.served += 1
            if self.served > self.max_requests:
                raise RuntimeError("fault proxy: request budget exhausted")
            bare = urlsplit(path).path
            for rule in self.rules:
                if rule.remaining <= 0 or rule.method != method or not rule.path.search(bare):
                    continue
                if rule.body_contains and rule.body_contains.encode() not in body:
                    continue
                rule.remaining -= 1
                self.injected.append(f"{method} {bare} -> {rule.status}")
                return rule
        return None

    def __enter__(self) -> "FaultProxy":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
