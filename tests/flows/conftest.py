"""Fixtures for the Prefect flow tests: one test server per session, the local BigQuery.

The Prefect settings are set before Prefect is imported: a PREFECT_HOME of its own
(so nothing touches ~/.prefect or the project's .local/), no telemetry, and start-up
timeouts this machine needs (see PREFECT_LOCAL.md). `prefect_test_harness` starts one
temporary server for the whole session (20-33 s here), never one per test.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

_HOME = tempfile.mkdtemp(prefix="reconcile-test-prefect-home-")
os.environ["PREFECT_HOME"] = _HOME
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
os.environ["DO_NOT_TRACK"] = "1"
os.environ["PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"] = "120"
os.environ.pop("PREFECT_API_URL", None)
os.environ.pop("PREFECT_PROFILE", None)

import pytest  # noqa: E402

from reconcile.local import emulator as local# noqa: E402
from reconcile.bq.adapter import Adapter, local_client  # noqa: E402

from flow_helpers import PROJECT  # noqa: E402


@pytest.fixture(scope="session")
def prefect_server() -> Iterator[None]:
    import prefect.settings
    from prefect.testing.utilities import prefect_test_harness

    with prefect.settings.temporary_settings(updates={prefect.settings.PREFECT_HOME: _HOME}):
        with prefect_test_harness(server_startup_timeout=120):
            yield
    shutil.rmtree(_HOME, ignore_errors=True)


@pytest.fixture(scope="session")
def staging_files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo staging Parquet files (real public data), built once per session."""
    from reconcile.demo.data import build_staging

    out = tmp_path_factory.mktemp("staging")
    build_staging(out)
    return out


@pytest.fixture
def flow_env(emulator: local.LocalEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """Flows in this test reach the session's emulator; their local state stays in tmp."""
    monkeypatch.setenv("BIGQUERY_EMULATOR_HOST", emulator.endpoint)
    monkeypatch.setenv("RECONCILE_LOCAL_DIR", str(tmp_path / "local"))
    return emulator.endpoint


@pytest.fixture
def bq(emulator: local.LocalEmulator) -> Adapter:
    return Adapter(local_client(PROJECT, emulator.endpoint), PROJECT, emulator=True)
