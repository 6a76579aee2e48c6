"""The CLI tests share the apply tests' real staging files."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconcile.demo.data import build_staging


@pytest.fixture(scope="session")
def staging_src(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo's staging Parquet files (real public data), written once."""
    out = tmp_path_factory.mktemp("cli_staging")
    build_staging(out)
    return out
