"""BigQuery clients, made for the Adapter (`reconcile.bq.adapter`, which re-exports
these): the local emulator's (anonymous, custom endpoint, named by
BIGQUERY_EMULATOR_HOST) or real BigQuery's (given or default credentials), and a
default timeout for every HTTP request a client sends. Making a client sends no
request.
"""

from __future__ import annotations

import os
from typing import Any

from google.cloud import bigquery


def local_client(project: str, endpoint: str) -> bigquery.Client:
    """A client for the local emulator: anonymous credentials, custom endpoint."""
    from google.api_core.client_options import ClientOptions
    from google.auth.credentials import AnonymousCredentials

    return bigquery.Client(
        project=project,
        credentials=AnonymousCredentials(),
        client_options=ClientOptions(api_endpoint=endpoint),
    )


def cloud_client(project: str, credentials: Any = None) -> bigquery.Client:
    """A client for real BigQuery: given credentials, or application default credentials."""
    return bigquery.Client(project=project, credentials=credentials)


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
