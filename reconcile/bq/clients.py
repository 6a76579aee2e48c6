"""BigQuery clients, made for the Adapter (`reconcile.bq.adapter`, which re-exports
these): the local emulator's (anonymous, custom endpoint, named by
BIGQUERY_EMULATOR_HOST) or real BigQuery's (given or default credentials), and a
default timeout for every HTTP request a client sends. Making a client sends no
request.

Every client is `bounded` (issue 18): each HTTP request has a timeout, and a chain of
failing requests (the client library's own retries and the adapter's) has a deadline.
The BigQuery client waits forever by default and retries connection errors and HTTP
5xx for 600 s (its DEFAULT_RETRY); here an endpoint that never answered fails after
`RECONCILE_BQ_CONNECT_S` (10 s; 3 refused connections in a row), a chain of failures after `RECONCILE_BQ_DEADLINE_S`
(120 s) without an answer, each request after `RECONCILE_BQ_TIMEOUT_S` (30 s), with
`Unreachable`: "cannot reach BigQuery at ENDPOINT: why". An answer that is not JSON
(every BigQuery API answer is, https://cloud.google.com/bigquery/docs/reference/rest)
is refused naming the endpoint too. `Unreachable` is raised outside any `except`, so
no retry classifier sees a connection error behind it: it is final.
"""

from __future__ import annotations

import json
import os
import threading
import time
from typing import Any

from google.cloud import bigquery

CONNECT_S = 10.0  # an endpoint that has not answered once: give up after this long
DEADLINE_S = 120.0  # a chain of failed requests since the last answer
TIMEOUT_S = 30.0  # one HTTP request (jobs.query holds a request up to 10 s server-side)
CONNECT_TIMEOUT_S = 5.0  # establishing the TCP connection


class Unreachable(RuntimeError):
    """BigQuery did not answer, or answered with something that is not the API:
    "cannot reach BigQuery at ENDPOINT: why". Final: not retried."""


def _env_seconds(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if not raw:
        return default
    try:
        v = float(raw)
    except ValueError:
        raise Unreachable(f"{name}={raw[:20]!r}: expected a number of seconds") from None
    if not 0 < v <= 86400:
        raise Unreachable(f"{name}={raw[:20]!r}: expected seconds between 0 and 86400")
    return v


def _why(e: BaseException) -> str:
    """A failure in a few words: its kind and first line, never a response body."""
    text = str(e).splitlines()[0] if str(e) else ""
    for marker in ("Connection refused", "timed out", "Read timed out", "Name or service not known",
                   "Connection reset", "RemoteDisconnected", "Connection aborted"):
        if marker in text:
            return f"{type(e).__name__} ({marker})"
    return type(e).__name__


def bounded(http: Any, endpoint: str, *, connect_s: float | None = None, deadline_s: float | None = None,
            timeout_s: float | None = None) -> None:
    """Bound every request `http` (a requests Session) sends to `endpoint`: see the
    module docstring. Seconds default to the environment (RECONCILE_BQ_*), then to the
    constants above."""
    connect_s = connect_s or _env_seconds("RECONCILE_BQ_CONNECT_S", CONNECT_S)
    deadline_s = deadline_s or _env_seconds("RECONCILE_BQ_DEADLINE_S", DEADLINE_S)
    timeout_s = timeout_s or _env_seconds("RECONCILE_BQ_TIMEOUT_S", TIMEOUT_S)
    send = http.request
    lock = threading.Lock()
    st: dict[str, Any] = {"answered": False, "failing_since": None, "last": "", "refused": 0}

    def budget_left(now: float) -> float:
        with lock:
            since = st["failing_since"]
            limit = deadline_s if st["answered"] else connect_s
        return limit if since is None else limit - (now - since)

    def request(method, url, *args, timeout=None, **kwargs):
        start = time.monotonic()
        left = budget_left(start)
        if left <= 0:
            with lock:
                last = st["last"]
                limit = deadline_s if st["answered"] else connect_s
            raise Unreachable(f"cannot reach BigQuery at {endpoint}: no answer within {limit:g} s ({last})")
        want = timeout_s if timeout is None else timeout
        read = min(want[1] if isinstance(want, tuple) else want, left) if want is not None else left
        t = (min(CONNECT_TIMEOUT_S, read), read)
        failure: BaseException | None = None
        try:
            response = send(method, url, *args, timeout=t, **kwargs)
        except Exception as e:  # noqa: BLE001 - recorded, re-raised below for the retries to judge
            failure = e
        if failure is not None:
            with lock:
                if st["failing_since"] is None:
                    st["failing_since"] = start
                st["last"] = _why(failure)
                # Refused (nothing listens) before any answer: three in a row is an answer.
                refused = not st["answered"] and "Timeout" not in type(failure).__name__ \
                    and "timed out" not in str(failure)
                st["refused"] = st["refused"] + 1 if refused else 0
            if st["refused"] >= 3:
                _final(f"cannot reach BigQuery at {endpoint}: {_why(failure)}, {st['refused']} attempts")
            if budget_left(time.monotonic()) <= 0:
                _give_up(failure)
            raise failure
        bad = _not_json(response)
        if bad:
            _final(f"cannot reach BigQuery at {endpoint}: the answer to {method} is not JSON ({bad})")
        with lock:
            st["answered"] = True
            if response.status_code >= 500 or response.status_code == 429:
                if st["failing_since"] is None:
                    st["failing_since"] = start
                st["last"] = f"HTTP {response.status_code}"
            else:
                st["failing_since"] = None
        if st["failing_since"] is not None and budget_left(time.monotonic()) <= 0:
            _final(f"cannot reach BigQuery at {endpoint}: still failing after {deadline_s:g} s "
                   f"(HTTP {response.status_code})")
        return response

    def _give_up(failure: BaseException) -> None:
        with lock:
            limit = deadline_s if st["answered"] else connect_s
        _final(f"cannot reach BigQuery at {endpoint}: no answer within {limit:g} s ({_why(failure)})")

    http.request = request


def _final(message: str) -> None:
    raise Unreachable(message)


def _not_json(response: Any) -> str:
    """Why a successful answer that says it is JSON is not ('' when it is, or has no body).
    Small bodies are parsed; a large one (query rows) is checked at both ends, which is
    where a truncated or trailing-garbage answer shows. Error answers (4xx, 5xx) are left
    to the client library, which reads non-JSON error pages itself."""
    if not 200 <= response.status_code < 300 or response.status_code == 204:
        return ""
    ctype = (response.headers.get("content-type") or "").lower()
    if "json" not in ctype:
        return ""  # an upload session's answer (text/plain, empty) is not the JSON API
    body = response.content
    if not body or not body.strip():
        return ""
    if len(body) <= 1 << 16:
        try:
            json.loads(body)
        except ValueError as e:
            return str(e).split(":")[0][:80]
        return ""
    head, tail = body.lstrip()[:1], body.rstrip()[-1:]
    return "" if (head, tail) in ((b"{", b"}"), (b"[", b"]")) else "not a JSON document"


def local_client(project: str, endpoint: str) -> bigquery.Client:
    """A client for the local emulator: anonymous credentials, custom endpoint."""
    from google.api_core.client_options import ClientOptions
    from google.auth.credentials import AnonymousCredentials

    client = bigquery.Client(
        project=project,
        credentials=AnonymousCredentials(),
        client_options=ClientOptions(api_endpoint=endpoint),
    )
    bounded(client._http, endpoint)
    return client


def cloud_client(project: str, credentials: Any = None) -> bigquery.Client:
    """A client for real BigQuery: given credentials, or application default credentials."""
    client = bigquery.Client(project=project, credentials=credentials)
    bounded(client._http, client._connection.API_BASE_URL)
    return client


def emulator_host_from_env() -> str | None:
    """BIGQUERY_EMULATOR_HOST as Google's clients use it (host:port or a URL)."""
    host = os.environ.get("BIGQUERY_EMULATOR_HOST")
    if not host:
        return None
    return host if host.startswith("http") else f"http://{host}"


def default_timeout(http: Any, seconds: float) -> None:
    """Give every HTTP request of this client a timeout of `seconds` where the caller set
    none (the BigQuery client's default is to wait forever). A request that times out
    raises a requests Timeout, which the client and `Adapter._retry` treat as transient."""
    send = http.request

    def request(method, url, *args, timeout=None, **kwargs):
        return send(method, url, *args, timeout=seconds if timeout is None else timeout, **kwargs)

    http.request = request
