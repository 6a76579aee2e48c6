"""A small threaded HTTP proxy on 127.0.0.1 in front of the local BigQuery.

One class, several uses:

* the benchmark's **latency model** (`tests/perf/bench.py`): every request is held
  for the time BigQuery would take before it is forwarded: `api_latency` (100 ms)
  per API request, `job_latency` (1 s) per query or job request (`jobs.query`,
  `jobs.insert`, including a load job's upload);
* the reliability suite's request log (`record=True`: every request's line, headers and
  body, for the secrets test to scan);
* the benchmark's **replay** of the latency model: `record_to=Recording()` forwards every
  request and keeps its answer under `replay_key(...)`; `replay=<that Recording>` then
  answers each recorded request from it after sleeping the model's latency, without
  touching the emulator, so that BigQuery's modelled time *replaces* the emulator's own
  (whose INFORMATION_SCHEMA costs time per column and table, docs/emulator.md) instead of
  adding to it. A request not in the recording is forwarded (after the latency too) and
  counted in `stats.unrecorded`: a figure with unrecorded requests is not pure replay.
* the reliability suite's **transient faults** (`tests/reliability/`): at a set
  rate (seeded RNG, at most `max_faults` in all) a request is answered with a 500
  or a 503 in BigQuery's JSON error format, or its connection is reset (before or
  after the emulator ran it), or its answer is held past the client's timeout
  (the emulator has run the request: only the answer is lost).

Only loopback: it binds 127.0.0.1 on a free port and forwards to one upstream on
127.0.0.1. It is a context manager; leaving it stops its threads. It counts the
requests it served by kind, so a figure measured through it can be cross-checked
with the adapter's own counter. The BigQuery client is not mocked: the real client
talks HTTP to the real emulator through it.
"""

from __future__ import annotations

import http.client
import json
import random
import re
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlencode, urlsplit

_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host", "proxy-connection",
        "te", "trailer", "upgrade"}
# jobs.query (POST .../queries) and jobs.insert (POST .../jobs, also under /upload/ for a
# load job's file): a job on BigQuery. Everything else (gets, lists, getQueryResults): an API call.
_JOB = re.compile(r"^(/upload)?/bigquery/v2/projects/[^/]+/(queries|jobs)/?$")

FAULT_KINDS = ("http500", "http503", "timeout", "reset_before", "reset_after")
# Query-string parameters the client derives from a deadline (getQueryResults' timeoutMs):
# they do not choose BigQuery's answer, and would make a replayed poll miss its recording.
_VOLATILE_PARAMS = {"timeoutMs"}

Key = tuple[str, str, bytes]


def request_kind(method: str, path: str) -> str:
    """'job' for jobs.query / jobs.insert, 'api' for every other request."""
    return "job" if method == "POST" and _JOB.match(urlsplit(path).path) else "api"


def replay_key(method: str, path: str, body: bytes) -> Key:
    """The recording's key of a request: (method, path, body) without what the client draws
    at random per request. google-cloud-bigquery puts a fresh `requestId` in every
    jobs.query body and a fresh `jobReference.jobId` in every jobs.insert body (the adapter
    also draws a nonce into its job ids): both are dropped; everything else (query text,
    parameters, location, labels, options) stays, in canonical JSON. Follow-up requests
    (getQueryResults, jobs.get) name the job in their path: a replayed jobs.query answer
    carries the recorded job id, so the client asks for the recorded path."""
    u = urlsplit(path)
    params = [(k, v) for k, v in parse_qsl(u.query, keep_blank_values=True) if k not in _VOLATILE_PARAMS]
    norm_path = u.path + ("?" + urlencode(sorted(params)) if params else "")
    norm_body = body
    if body:
        try:
            doc = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            doc = None  # a load job's upload (multipart, raw bytes): the body is its own key
        if isinstance(doc, dict):
            doc.pop("requestId", None)
            ref = doc.get("jobReference")
            if isinstance(ref, dict):
                ref.pop("jobId", None)
            norm_body = json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()
    return method, norm_path, norm_body


@dataclass(frozen=True)
class Answer:
    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes


class Recording:
    """Answers recorded by a proxy with `record_to=`, by `replay_key`; thread-safe.

    A key asked more than once while recording keeps its answers in order (a job polled
    until done); a replaying proxy serves them in that order and repeats the last."""

    def __init__(self) -> None:
        self._answers: dict[Key, list[Answer]] = {}
        self._lock = threading.Lock()

    def add(self, key: Key, status: int, headers: dict[str, str], body: bytes) -> None:
        with self._lock:
            self._answers.setdefault(key, []).append(Answer(status, tuple(headers.items()), body))

    def answers(self, key: Key) -> list[Answer]:
        with self._lock:
            return list(self._answers.get(key, ()))

    def keys(self) -> list[Key]:
        with self._lock:
            return list(self._answers)

    def __len__(self) -> int:  # answers recorded, over all keys
        with self._lock:
            return sum(len(v) for v in self._answers.values())


@dataclass
class ProxyStats:
    requests: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)
    faults: dict[str, int] = field(default_factory=dict)
    fault_log: list[str] = field(default_factory=list)
    added_latency_s: float = 0.0
    recorded: list[bytes] = field(default_factory=list)  # with record=True: each request, raw
    replayed: int = 0  # with replay=: requests answered from the recording
    unrecorded: int = 0  # with replay=: requests not in it (forwarded)
    unrecorded_log: list[str] = field(default_factory=list)  # "METHOD path" of each


class LoopbackProxy:
    """Forward HTTP requests from 127.0.0.1:<free port> to `upstream` (a loopback URL).

    api_latency / job_latency: seconds added before forwarding, by request kind.
    fault_rate / max_faults / seed / client_timeout: the fault injection (off at rate 0).
    record: keep each request, raw, in stats.recorded (the secrets test's log).
    record_to: a Recording to store each forwarded request's answer in.
    replay: a Recording to answer recorded requests from, after the latency, upstream untouched.
    """

    def __init__(self, upstream: str, *, api_latency: float = 0.0, job_latency: float = 0.0,
                 fault_rate: float = 0.0, max_faults: int = 0, seed: int = 0,
                 client_timeout: float = 10.0, fault_kinds: tuple[str, ...] = FAULT_KINDS,
                 record: bool = False, record_to: Recording | None = None,
                 replay: Recording | None = None):
        if record_to is not None and replay is not None:
            raise ValueError("record_to and replay are exclusive: a replayed answer is not a new one")
        u = urlsplit(upstream)
        if u.hostname not in ("127.0.0.1", "localhost"):
            raise ValueError(f"loopback upstream only, got {upstream!r}")
        self.upstream = (u.hostname, u.port or 80)
        self.api_latency = api_latency
        self.job_latency = job_latency
        self.fault_rate = fault_rate
        self.max_faults = max_faults
        self.client_timeout = client_timeout
        self.fault_kinds = fault_kinds
        self.record = record
        self.record_to = record_to
        self.replay = replay
        self._replay_next: dict[Key, int] = {}  # this proxy's position in each key's answers
        self.stats = ProxyStats()
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._local = threading.local()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def _body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    out = bytearray()
                    while True:
                        size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                        if size == 0:
                            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                                pass
                            return bytes(out)
                        out += self.rfile.read(size)
                        self.rfile.readline()
                n = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(n) if n else b""

            def _reset(self) -> None:
                """Close the client's connection with a TCP RST (SO_LINGER 0)."""
                try:
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                except OSError:
                    pass
                self.close_connection = True
                try:
                    self.connection.close()
                except OSError:
                    pass

            def _handle(self) -> None:
                body = self._body()
                if proxy.record:
                    with proxy._lock:
                        proxy.stats.recorded.append(
                            f"{self.command} {self.path}\n{self.headers}".encode() + b"\n" + body)
                kind = request_kind(self.command, self.path)
                fault, delay = proxy._decide(self.command, self.path, kind)
                if delay:
                    time.sleep(delay)
                if fault in ("http500", "http503"):
                    status = 500 if fault == "http500" else 503
                    reason = "backendError" if status == 500 else "serviceUnavailable"
                    self._send(status, json.dumps({"error": {
                        "code": status, "message": f"injected by the test proxy ({reason})",
                        "errors": [{"reason": reason, "message": "injected by the test proxy",
                                    "domain": "global"}],
                        "status": "INTERNAL" if status == 500 else "UNAVAILABLE"}}).encode(),
                        {"Content-Type": "application/json; charset=UTF-8"})
                    return
                if fault == "reset_before":
                    self._reset()
                    return
                answer = proxy._replayed(self.command, self.path, body)
                if answer is not None:
                    status, data, headers = answer.status, answer.body, dict(answer.headers)
                else:
                    try:
                        status, data, headers = proxy._forward(self.command, self.path, body, self.headers)
                    except (OSError, http.client.HTTPException) as e:
                        self._send(502, json.dumps({"error": {"code": 502, "message": f"proxy: {e}"}}).encode(),
                                   {"Content-Type": "application/json"})
                        return
                    if proxy.record_to is not None:
                        proxy.record_to.add(replay_key(self.command, self.path, body), status, headers, data)
                if fault == "reset_after":
                    self._reset()  # the emulator ran it; the client never hears
                    return
                if fault == "timeout":
                    time.sleep(proxy.client_timeout + 1.0)  # the client has given up by now
                    self._reset()
                    return
                self._send(status, data, headers)

            def _send(self, status: int, data: bytes, headers: dict[str, str]) -> None:
                try:
                    self.send_response(status)
                    for k, v in headers.items():
                        self.send_header(k, v)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:
                    self.close_connection = True

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="loopback-proxy",
                                        daemon=True)

    # ------------------------------------------------------------------ policy
    def _decide(self, method: str, path: str, kind: str) -> tuple[str | None, float]:
        with self._lock:
            self.stats.requests += 1
            self.stats.by_kind[kind] = self.stats.by_kind.get(kind, 0) + 1
            delay = self.job_latency if kind == "job" else self.api_latency
            self.stats.added_latency_s += delay
            fault = None
            if self.fault_rate and sum(self.stats.faults.values()) < self.max_faults \
                    and self._rng.random() < self.fault_rate:
                fault = self._rng.choice(self.fault_kinds)
                self.stats.faults[fault] = self.stats.faults.get(fault, 0) + 1
                self.stats.fault_log.append(f"{fault}: {method} {urlsplit(path).path}")
        return fault, delay

    def _replayed(self, method: str, path: str, body: bytes) -> Answer | None:
        """In replay mode, the recorded answer to this request (counted), or None: forward it."""
        if self.replay is None:
            return None
        key = replay_key(method, path, body)
        answers = self.replay.answers(key)
        with self._lock:
            if not answers:
                self.stats.unrecorded += 1
                self.stats.unrecorded_log.append(f"{method} {urlsplit(path).path}")
                return None
            i = self._replay_next.get(key, 0)
            self._replay_next[key] = i + 1
            self.stats.replayed += 1
        return answers[min(i, len(answers) - 1)]

    @property
    def faults_injected(self) -> int:
        return sum(self.stats.faults.values())

    # ------------------------------------------------------------------ forwarding
    def _conn(self) -> http.client.HTTPConnection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = http.client.HTTPConnection(*self.upstream, timeout=600)
            self._local.conn = conn
        return conn

    def _forward(self, method: str, path: str, body: bytes, in_headers) -> tuple[int, bytes, dict[str, str]]:
        headers = {k: v for k, v in in_headers.items() if k.lower() not in _HOP}
        headers["Content-Length"] = str(len(body))
        for attempt in (1, 2):
            conn = self._conn()
            try:
                conn.request(method, path, body=body, headers=headers)
                r = conn.getresponse()
                data = r.read()
                break
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                conn.close()
                self._local.conn = None
                if attempt == 2:
                    raise
        out = {k: v for k, v in r.getheaders() if k.lower() not in _HOP}
        # A resumable upload's session URL points at the upstream: keep the client on the proxy.
        for k, v in list(out.items()):
            if k.lower() == "location":
                out[k] = v.replace(f"{self.upstream[0]}:{self.upstream[1]}", f"127.0.0.1:{self.port}")
        if r.will_close:
            conn.close()
            self._local.conn = None
        return r.status, data, out

    # ------------------------------------------------------------------ lifecycle
    def __enter__(self) -> "LoopbackProxy":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
