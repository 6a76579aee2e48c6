"""A backfill of `daily_feature_aggregates` over 30 days, twice, on the Prefect test server.

The transform's SQL (sql/transforms/daily_feature_aggregates.sql) writes fixed dataset
names (`features`, `market_data`, `raw_intelligence`), so this test has a local
BigQuery of its own rather than a dataset prefix on the shared one. Its sources are
loaded from the demo's real staging files (Yahoo, FRED, NOAA weather, VIX) by the
`create` and `load` flows. The backfill runs one task per date; each date's run writes
only dates up to it; the second backfill leaves the table exactly as it was.
"""

from __future__ import annotations

import datetime as dt
import shutil
import tempfile
import textwrap
from pathlib import Path
from typing import Iterator

import pytest
from flow_helpers import PROJECT, artifacts_of, task_runs_of

from flows.reconcile_flow import create, load
from flows.transforms_flow import backfill
from reconcile.bq.adapter import Adapter, local_client
from reconcile.local import emulator as local

pytestmark = [pytest.mark.prefect, pytest.mark.integration, pytest.mark.usefixtures("prefect_server")]

ROOT = Path(__file__).resolve().parents[2]
SQL = "sql/transforms/daily_feature_aggregates.sql"
START, END = dt.date(2015, 12, 1), dt.date(2015, 12, 30)
SOURCES = {  # table -> (staging file, keys, columns)
    "market_data.yahoo_historical_prefixed": ("yahoo_historical_prefixed", ["date", "symbol"], [
        ("date", "DATE", "REQUIRED"), ("symbol", "STRING", "REQUIRED"), ("yahoo_open", "FLOAT64", None),
        ("yahoo_high", "FLOAT64", None), ("yahoo_low", "FLOAT64", None), ("yahoo_close", "FLOAT64", None),
        ("yahoo_adj_close", "FLOAT64", None), ("yahoo_volume", "INT64", None)]),
    "raw_intelligence.fred_macro_expanded": ("fred_macro_expanded", ["date", "series_id"], [
        ("date", "DATE", "REQUIRED"), ("series_id", "STRING", "REQUIRED"), ("value", "FLOAT64", None)]),
    "raw_intelligence.weather_granular": ("weather_granular", ["date", "station"], [
        ("date", "DATE", "REQUIRED"), ("station", "STRING", "REQUIRED"), ("precipitation", "FLOAT64", None),
        ("temp_max", "FLOAT64", None), ("temp_min", "FLOAT64", None), ("wind", "FLOAT64", None),
        ("weather", "STRING", None)]),
    "market_data.vix_daily": ("vix_daily", ["date"], [("date", "DATE", "REQUIRED"), ("vix_close", "FLOAT64", None)]),
}


@pytest.fixture
def own_emulator(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Adapter]:
    monkeypatch.delenv("RECONCILE_LOCAL_DIR", raising=False)
    emu = local.start(Path(tempfile.mkdtemp(prefix="backfill-bq-")), PROJECT, port=0, persistent=False)
    monkeypatch.setenv("BIGQUERY_EMULATOR_HOST", emu.endpoint)
    monkeypatch.setenv("RECONCILE_LOCAL_DIR", str(tmp_path / "local"))
    try:
        yield Adapter(local_client(PROJECT, emu.endpoint), PROJECT, emulator=True)
    finally:
        local.stop_pid(emu.pid)


def _spec(root: Path, staging: Path) -> Path:
    (root / "staging").mkdir(parents=True)
    (root / SQL).parent.mkdir(parents=True)
    shutil.copy(ROOT / SQL, root / SQL)
    tables, loads = [], []
    for ref, (file, keys, cols) in SOURCES.items():
        shutil.copy(staging / f"{file}.parquet", root / "staging" / f"{file}.parquet")
        col_lines = "".join(f"\n      - {{name: {n}, type: {t}" + (f", mode: {m}}}" if m else "}")
                            for n, t, m in cols)
        tables.append(f"  {ref}:\n    columns:{col_lines}")
        loads.append(f"  - {{source: staging/{file}.parquet, table: {ref}, keys: [{', '.join(keys)}]}}")
    spec = root / "desired_state" / "spec.yaml"
    spec.parent.mkdir(parents=True)
    spec.write_text(textwrap.dedent(f"""\
        version: 1
        project: {PROJECT}
        default_location: us-central1
        targets:
          local: {{type: local}}
        datasets:
          market_data: {{}}
          raw_intelligence: {{}}
          features: {{}}
          ops: {{}}
        """) + "tables:\n" + "\n".join(tables) + "\nloads:\n" + "\n".join(loads) + textwrap.dedent(f"""
        transforms:
          daily_feature_aggregates:
            sql: {SQL}
            schedule: "0 6 * * *"
            inputs: [{', '.join(SOURCES)}]
            outputs: [features.daily_feature_aggregates]
        """))
    return spec


def _table(bq: Adapter) -> list[str]:
    rows = bq.client.query("SELECT TO_JSON_STRING(t) AS j FROM `features.daily_feature_aggregates` AS t "
                           "ORDER BY date").result()
    return [r["j"] for r in rows]


def test_backfill_30_days_then_again_changes_nothing(tmp_path: Path, staging_files: Path, own_emulator):
    bq = own_emulator
    spec = str(_spec(tmp_path / "project", staging_files))
    assert create(spec=spec, return_state=True).is_completed()
    assert load(spec=spec, return_state=True).is_completed()
    assert not bq.table_exists("features.daily_feature_aggregates")

    first = backfill(transform="daily_feature_aggregates", start=START, end=END, spec=spec,
                     return_state=True)
    assert first.is_completed(), first.message
    dated = sorted(t.name for t in task_runs_of(first) if "RunTransform" in t.name)
    assert len(dated) == 30, dated  # one task per date
    result = artifacts_of(first)["backfill-result-cbi-v14"]
    assert f"for {START.isoformat()}" in result and f"for {END.isoformat()}" in result
    rows = _table(bq)
    (last,) = bq.client.query("SELECT MAX(date) AS d, COUNTIF(date > @end) AS later FROM "
                              "`features.daily_feature_aggregates`",
                              job_config=_params(END)).result()
    assert last["d"] == END and last["later"] == 0, "no day after the range is written"
    assert len(rows) > 1000  # every source date up to the range's end, from real data

    again = backfill(transform="daily_feature_aggregates", start=START, end=END, spec=spec,
                     return_state=True)
    assert again.is_completed(), again.message
    assert _table(bq) == rows, "a second backfill of the same range changes nothing"


def _params(end: dt.date):
    from google.cloud import bigquery

    return bigquery.QueryJobConfig(query_parameters=[bigquery.ScalarQueryParameter("end", "DATE", end)])
