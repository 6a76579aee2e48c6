"""Targets: the one place that chooses where BigQuery is (the bundled local emulator
or a real project) and builds the Adapter for it.

`connect(desired, target)` is called by the CLI, the flows and status alike. It
never logs or echoes credentials: a GcpCredentials block that cannot be loaded is
an error naming the block, never a silent fall-back to application default
credentials.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from reconcile.bq.adapter import Adapter, cloud_client, emulator_host_from_env, local_client
from reconcile.local import emulator as local
from reconcile.spec.load import FileRefused, read_regular_file
from reconcile.spec.model import DesiredState

CREDENTIALS_CAP = 1 << 20  # a service-account key file is a few KB


class TargetError(Exception):
    """A target that cannot be used as the spec declares it (one line for the user)."""


def connect(desired: DesiredState, target: str, run_id: str | None = None):
    """An Adapter for the named target. Only place that chooses an endpoint."""
    if target not in desired.targets:
        raise TargetError(f"--target: {target!r} is not a target of {desired.files[0]} "
                       f"(targets: {', '.join(sorted(desired.targets))})")
    t = desired.targets[target]
    project = t.project or desired.project
    if t.type == "local":
        endpoint = emulator_host_from_env()
        if endpoint is None:
            em = local.start(Path(desired.root), project)
            endpoint = em.endpoint
            if em.started:
                print(f"local BigQuery started at {endpoint} (pid {em.pid})", file=sys.stderr)
        return Adapter(local_client(project, endpoint), project, run_id=run_id, emulator=True)
    check_credentials_file()
    credentials = None
    if t.credentials_block:
        credentials = _prefect_gcp_credentials(t.credentials_block)
    return Adapter(cloud_client(project, credentials), project, run_id=run_id)


def check_credentials_file() -> None:
    """GOOGLE_APPLICATION_CREDENTIALS, when set, names a regular file under 1 MiB: a FIFO
    would hang the auth library forever, /dev/zero would fill memory (issue 18). The
    message names the variable and the path's kind, never the file's content."""
    path = os.environ.get("GOOGLE_APPLICATION_CREDENTIALS")
    if not path:
        return
    try:
        read_regular_file(path, CREDENTIALS_CAP)
    except FileRefused as e:
        raise TargetError(f"GOOGLE_APPLICATION_CREDENTIALS: {e}") from None
    except OSError as e:
        raise TargetError(f"GOOGLE_APPLICATION_CREDENTIALS: cannot read it ({e.strerror or type(e).__name__})") from None


def _prefect_gcp_credentials(block: str):
    """Credentials from the prefect-gcp GcpCredentials block the target names.

    A named block that cannot be loaded is an error, not a silent fall-back to
    application default credentials (which may be another, more privileged identity).
    Imported lazily: the library runs without Prefect unless a block is named."""
    try:
        from prefect_gcp import GcpCredentials
    except ImportError as e:  # pragma: no cover - prefect-gcp is a dependency
        raise TargetError(f"credentials_block {block!r}: prefect-gcp is not installed") from e
    try:
        return GcpCredentials.load(block).get_credentials_from_service_account()
    except Exception as e:  # noqa: BLE001 - never echo the block's contents
        raise TargetError(f"credentials_block {block!r}: cannot load the GcpCredentials block "
                       f"({type(e).__name__}); create it, or remove credentials_block to use "
                       "application default credentials") from None
