"""Fixtures of the reliability suite (marker `reliability`): faults, crashes, concurrency,
bad input, secrets. Every test runs against the session's local BigQuery (tests/conftest.py)
under its own dataset prefix.

Each test adds its figures to the session's `Figures`; when every part of the suite has
run in one session, `tests/reliability/results.md` and the README block between
`<!-- reliability:start -->` and `<!-- reliability:end -->` are regenerated from them
(a partial run, e.g. `-k crash`, writes nothing).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
for extra in (HERE.parent / "apply", HERE.parent / "support"):
    if str(extra) not in sys.path:
        sys.path.insert(0, str(extra))

from reliability_results import PARTS, Figures, write_results  # noqa: E402

_FIGURES = Figures()


@pytest.fixture(scope="session")
def figures() -> Figures:
    return _FIGURES


@pytest.fixture(scope="session")
def staging_src(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo's staging Parquet files (real public data), written once."""
    from reconcile.demo.data import build_staging

    out = tmp_path_factory.mktemp("reliability_staging")
    build_staging(out)
    return out


@pytest.fixture(scope="session")
def source_sums_cache() -> dict:
    """scenario.source_sums(), computed by the first test that needs it (same data in every case)."""
    return {}


@pytest.fixture
def expected_tables(source_sums_cache: dict, staging_src: Path):
    """expected_tables(adapter, prefix) -> the scenario's expected tables (call right after seeding)."""
    import reliability_scenario as scenario

    return lambda adapter, p: scenario.want_for(adapter, p, staging_src, source_sums_cache)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """The suite's own time: setup, call and teardown of its tests (not the rest of a session)."""
    _FIGURES.seconds = round((_FIGURES.seconds or 0.0) + report.duration, 1)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    import json
    import os

    dump = os.environ.get("RELIABILITY_FIGURES_OUT")  # any run, partial too: for debugging
    if dump and _FIGURES.parts:
        Path(dump).write_text(json.dumps(_FIGURES.parts, indent=2, default=str), encoding="utf-8")
    if all(part in _FIGURES.parts for part in PARTS):
        write_results(_FIGURES)
