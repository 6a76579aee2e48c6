"""Shared fixtures: one local BigQuery (bqemulator) per test session.

The emulator is a real server, started as a child process on 127.0.0.1 through
`reconcile.local.start` and stopped at the end of the session by the PID that call
recorded (never by name). Tests share it, so each test builds its objects under its
own dataset-name prefix (`ds_prefix`), and the prefix's datasets are deleted when the
test ends: a snapshot taken inside a test sees only that test's datasets.
Nothing here mocks the BigQuery client.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconcile.local import emulator as local
from reconcile.bq.adapter import Adapter, local_client

PROJECT = "cbi-v14"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--strict-bigquery", action="store_true", default=False,
                     help="run every test's `emulator` through the strict BigQuery harness "
                          "(tests/support/strict_bigquery.py); also RECONCILE_STRICT_BQ=1")


def _strict_everywhere(config: pytest.Config) -> bool:
    return bool(config.getoption("--strict-bigquery")) or os.environ.get("RECONCILE_STRICT_BQ") == "1"


@pytest.fixture(scope="session")
def raw_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[local.LocalEmulator]:
    """The session's bqemulator process itself (no harness in front)."""
    root = tmp_path_factory.mktemp("bqemulator")
    with pytest.MonkeyPatch.context() as mp:
        # A user's RECONCILE_LOCAL_DIR would make start() reuse their emulator.
        mp.delenv("RECONCILE_LOCAL_DIR", raising=False)
        emu = local.start(root=root, project=PROJECT, port=0, persistent=False)
    try:
        yield emu
    finally:
        if emu.started and emu.pid is not None:
            local.stop_pid(emu.pid)


@pytest.fixture(scope="session")
def strict_bq(raw_emulator: local.LocalEmulator):
    """The strict BigQuery harness in front of the session's emulator (one per session)."""
    from tests.support.strict_bigquery import StrictBigQuery

    with StrictBigQuery(raw_emulator.endpoint, PROJECT) as harness:
        yield harness


@pytest.fixture
def strict(strict_bq):
    """The harness, its injected failures, counters and records cleared for this test."""
    strict_bq.reset()
    yield strict_bq
    strict_bq.reset()


@pytest.fixture(scope="session")
def emulator(request: pytest.FixtureRequest, raw_emulator: local.LocalEmulator) -> local.LocalEmulator:
    """The local BigQuery every test uses: the emulator, or (--strict-bigquery /
    RECONCILE_STRICT_BQ=1) the strict harness in front of it."""
    if not _strict_everywhere(request.config):
        return raw_emulator
    harness = request.getfixturevalue("strict_bq")
    return local.LocalEmulator(harness.endpoint, raw_emulator.pid, started=False)


@pytest.fixture
def adapter(emulator: local.LocalEmulator) -> Adapter:
    """A fresh adapter (and request counter) over the session's emulator."""
    return Adapter(local_client(PROJECT, emulator.endpoint), PROJECT, emulator=True)


def unique_prefix(name: str) -> str:
    """A dataset-name prefix no other test uses: t<8 hex>_<test name>_ (letters, digits, _)."""
    slug = re.sub(r"[^A-Za-z0-9]+", "_", name).strip("_")[:24]
    return f"t{uuid.uuid4().hex[:8]}_{slug}_"


@pytest.fixture
def ds_prefix(request: pytest.FixtureRequest, emulator: local.LocalEmulator) -> Iterator[str]:
    """This test's dataset-name prefix; its datasets are deleted after the test."""
    prefix = unique_prefix(request.node.name)
    yield prefix
    cleaner = Adapter(local_client(PROJECT, emulator.endpoint), PROJECT, emulator=True)
    for name, _ in cleaner.list_datasets():
        if name.startswith(prefix):
            cleaner.delete_dataset(name)


@pytest.fixture
def project_root(tmp_path: Path) -> Path:
    """An empty project folder for specs written by a test."""
    (tmp_path / "desired_state").mkdir()
    return tmp_path
