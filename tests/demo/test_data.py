"""Tests for reconcile.demo.data: real, deterministic, traceable demo data."""

from __future__ import annotations

import datetime as dt
import importlib
import importlib.metadata
import json
import math

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from reconcile.demo import data

BIGQUERY_TYPES = {pa.date32(): "DATE", pa.float64(): "FLOAT64", pa.int64(): "INT64",
                  pa.string(): "STRING"}
TRAINING_TABLES = (
    "models_v4.production_training_data_1m",
    "models_v4.production_training_data_3m",
    "model_backups_oct27.production_training_data_1m_backup",
    "models_v5.production_training_data_1m",
)


@pytest.fixture(scope="module")
def staging(tmp_path_factory):
    out = tmp_path_factory.mktemp("staging")
    return out, data.build_staging(out)


@pytest.fixture(scope="module")
def legacy():
    return data.legacy_tables()


def present(entries):
    return [e for e in entries if not e["missing"]]


def assert_keys_unique_and_complete(table: pa.Table, keys: list[str], where: str) -> None:
    for key in keys:
        column = table.column(key)
        assert column.null_count == 0, f"{where}: nulls in key {key}"
        if pa.types.is_floating(column.type):
            assert not pc.any(pc.is_nan(column)).as_py(), f"{where}: NaN in key {key}"
    distinct = table.group_by(keys).aggregate([]).num_rows
    assert distinct == table.num_rows, f"{where}: duplicate keys {keys}"


def assert_sorted_by(table: pa.Table, keys: list[str], where: str) -> None:
    resorted = table.sort_by([(k, "ascending") for k in keys])
    assert resorted.equals(table), f"{where}: rows not sorted by {keys}"


def resolve(dotted: str):
    """Import the longest importable prefix of `dotted`, then walk the remaining attributes."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attr in parts[cut:]:
            obj = getattr(obj, attr)
        return obj
    raise ImportError(dotted)


def assert_real_source(source: dict, where: str) -> None:
    assert source["version"] == importlib.metadata.version(source["package"]), where
    assert source["modules"], f"{where}: no module named"
    for module in source["modules"]:
        assert module.split(".")[0] == source["package"], f"{where}: {module} not in package"
        importlib.import_module(module)
    for loader in source["loaders"]:
        assert callable(resolve(loader)), f"{where}: {loader} is not callable"
    assert source["original_source"].strip(), f"{where}: no original source"


# --- staging ---------------------------------------------------------------------------------


def test_build_staging_is_byte_identical(tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    entries_a = data.build_staging(first)
    entries_b = data.build_staging(second)
    assert entries_a == entries_b
    names = sorted(p.name for p in first.iterdir())
    assert names == sorted(p.name for p in second.iterdir())
    assert "PROVENANCE.json" in names and len(names) > 1
    for name in names:
        assert (first / name).read_bytes() == (second / name).read_bytes(), name


def test_rebuilding_in_place_leaves_bytes_unchanged(staging, tmp_path):
    out, _ = staging
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    data.build_staging(out)
    after = {p.name: p.read_bytes() for p in out.iterdir()}
    assert after == before


def test_provenance_file_holds_the_returned_manifest(staging):
    out, entries = staging
    assert json.loads((out / "PROVENANCE.json").read_text(encoding="utf-8")) == entries


def test_manifest_matches_parquet_metadata(staging):
    out, entries = staging
    assert len(present(entries)) >= 3
    for entry in present(entries):
        parquet = pq.ParquetFile(out / entry["file"])
        assert parquet.metadata.num_rows == entry["rows"] > 0, entry["file"]
        schema = parquet.schema_arrow
        assert schema.metadata in (None, {}), f"{entry['file']}: pandas/schema metadata left"
        assert {f.name: BIGQUERY_TYPES[f.type] for f in schema} == entry["columns"]
        dates = pq.read_table(out / entry["file"], columns=["date"]).column("date")
        bounds = pc.min_max(dates)
        assert entry["date_range"] == [bounds["min"].as_py().isoformat(),
                                       bounds["max"].as_py().isoformat()]


def test_plan_files_go_to_their_tables(staging):
    _, entries = staging
    tables = {e["file"]: e["table"] for e in entries}
    assert tables["yahoo_historical_prefixed.parquet"] == "market_data.yahoo_historical_prefixed"
    assert tables["fred_macro_expanded.parquet"] == "raw_intelligence.fred_macro_expanded"
    assert tables["weather_granular.parquet"] == "raw_intelligence.weather_granular"


def test_keys_unique_sorted_and_values_complete(staging):
    out, entries = staging
    for entry in present(entries):
        table = pq.read_table(out / entry["file"])
        assert_keys_unique_and_complete(table, entry["keys"], entry["file"])
        assert_sorted_by(table, entry["keys"], entry["file"])
        for name in table.column_names:
            column = table.column(name)
            assert column.null_count == 0, f"{entry['file']}.{name} has nulls"
            if pa.types.is_floating(column.type):
                assert not pc.any(pc.is_nan(column)).as_py(), f"{entry['file']}.{name} NaN"
            assert name == name.lower() and " " not in name


def test_missing_sources_have_no_file(staging):
    out, entries = staging
    missing = {e["table"]: e for e in entries if e["missing"]}
    assert set(missing) == {"raw_intelligence.cftc_commitments",
                            "raw_intelligence.alpha_vantage_features"}
    for entry in missing.values():
        assert entry["reason"].strip()
        assert "rows" not in entry and "source" not in entry
        assert not (out / entry["file"]).exists(), entry["file"]
    assert {s["table"] for s in data.MISSING_SOURCES} == set(missing)
    written = {p.name for p in out.iterdir()} - {"PROVENANCE.json"}
    assert written == {e["file"] for e in present(entries)}


def test_staging_values_are_the_package_values(staging):
    """Spot checks against the packages themselves: nothing is made up or shifted."""
    import arch.data.default
    import arch.data.nasdaq
    import arch.data.wti
    from vega_datasets import local_data

    out, _ = staging
    fred = pq.read_table(out / "fred_macro_expanded.parquet").to_pylist()
    fred = {(r["date"], r["series_id"]): r["value"] for r in fred}
    wti = arch.data.wti.load()["DCOILWTICO"].dropna()
    assert len([k for k in fred if k[1] == "DCOILWTICO"]) == len(wti)
    for stamp in (wti.index[0], wti.index[len(wti) // 2], wti.index[-1]):
        assert fred[(stamp.date(), "DCOILWTICO")] == wti[stamp]
    baa = arch.data.default.load()["BAA"]
    assert fred[(baa.index[0].date(), "BAA")] == baa.iloc[0]

    yahoo = pq.read_table(out / "yahoo_historical_prefixed.parquet")
    nasdaq = arch.data.nasdaq.load()
    ixic = yahoo.filter(pc.equal(yahoo.column("symbol"), "^IXIC"))
    assert ixic.num_rows == len(nasdaq)
    last = ixic.slice(ixic.num_rows - 1).to_pylist()[0]
    assert last["date"] == nasdaq.index[-1].date()
    assert last["yahoo_close"] == nasdaq["Close"].iloc[-1]
    assert last["yahoo_volume"] == nasdaq["Volume"].iloc[-1]

    weather = pq.read_table(out / "weather_granular.parquet").to_pylist()
    source = local_data.seattle_weather(use_local=True)
    assert len(weather) == len(source)
    assert weather[0]["temp_max"] == source["temp_max"].iloc[0]
    assert {r["station"] for r in weather} == {"SEATTLE_WA"}


def test_staging_provenance_names_importable_modules(staging):
    _, entries = staging
    for entry in present(entries):
        assert_real_source(entry["source"], entry["file"])


# --- legacy ----------------------------------------------------------------------------------


def test_legacy_training_tables_are_all_placeholders(legacy):
    for name in TRAINING_TABLES:
        table = legacy[name]
        assert table.num_rows > 0, name
        assert pc.all(pc.equal(table.column("regime"), "allhistory")).as_py(), name
        assert pc.all(pc.equal(table.column("training_weight"), 1)).as_py(), name
        assert table.schema.field("training_weight").type == pa.int64()


def test_legacy_v4_training_starts_2010_and_archive_holds_earlier_rows(legacy):
    cutoff = dt.date(2010, 1, 1)
    for horizon in ("1m", "3m"):
        table = legacy[f"models_v4.production_training_data_{horizon}"]
        assert pc.min(table.column("date")).as_py() >= cutoff
    backup = legacy["model_backups_oct27.production_training_data_1m_backup"]
    assert pc.min(backup.column("date")).as_py() < cutoff


def test_legacy_forward_target_is_computed_from_real_closes(legacy):
    table = legacy["models_v4.production_training_data_1m"].to_pylist()
    row, ahead = table[0], table[21]
    assert math.isclose(row["target_1m"], ahead["wti_close"] / row["wti_close"] - 1.0,
                        rel_tol=0, abs_tol=1e-12)
    crude = {r["date"]: r["close"]
             for r in legacy["forecasting_data_warehouse.crude_oil_prices"].to_pylist()}
    assert all(crude[r["date"]] == r["wti_close"] for r in table)


def test_legacy_tables_are_deterministic_keyed_and_sorted(legacy):
    again = data.legacy_tables()
    assert list(again) == sorted(again) == list(legacy)
    provenance = data.legacy_provenance()
    assert set(provenance) == set(legacy)
    for name, table in legacy.items():
        assert table.equals(again[name]), name
        keys = provenance[name]["keys"]
        assert_keys_unique_and_complete(table, keys, name)
        assert_sorted_by(table, keys, name)
        assert all(f.type in BIGQUERY_TYPES for f in table.schema), name
        assert table.num_rows > 0, name


def test_legacy_backups_are_earlier_cuts_of_live_tables(legacy):
    live = legacy["forecasting_data_warehouse.crude_oil_prices"]
    backup = legacy["forecasting_data_warehouse_backup_20251027.crude_oil_prices"]
    assert 0 < backup.num_rows < live.num_rows
    cut = pc.max(backup.column("date"))
    assert live.filter(pc.less_equal(live.column("date"), cut)).equals(backup)


def test_legacy_provenance_names_importable_modules():
    provenance = data.legacy_provenance()
    assert provenance
    for name, entry in provenance.items():
        assert entry["derivation"].strip(), name
        assert_real_source(entry["source"], name)


def test_the_plans_19_staging_files_are_declared_17_real_2_missing(staging):
    """Issue 17: the spec declares the plan's 19 staging loads; the demo writes 17 of them
    from real package data and reports the 2 without an offline source as missing."""
    from pathlib import Path

    from reconcile.spec.load import load_spec

    out, entries = staging
    spec = load_spec(Path(__file__).resolve().parents[2] / "desired_state" / "cbi-v14.yaml")
    staged = {ld.table: ld for ld in spec.loads if ld.source.startswith("staging/")}
    assert len(staged) == 19 == len(entries)
    assert {e["table"] for e in entries} == set(staged)
    for e in entries:
        assert staged[e["table"]].source == f"staging/{e['file']}"
        if not e["missing"]:
            assert list(staged[e["table"]].keys) == e["keys"], e["table"]
            assert {n: t for n, t, _ in spec.columns_of(e["table"])} == e["columns"], e["table"]
    assert len(present(entries)) == 17
    assert len({e["source"]["package"] for e in present(entries)}) == 3


def test_new_staging_values_are_the_package_values(staging):
    """Spot checks of the issue-17 files against their packages."""
    import arch.data.crude
    from statsmodels.datasets import co2, elnino
    from vega_datasets import local_data

    out, _ = staging
    crude = pq.read_table(out / "crude_oil_monthly.parquet").to_pylist()
    source = arch.data.crude.load()
    assert len(crude) == len(source.dropna())
    assert crude[0]["brent"] == source["Brent"].iloc[0] and crude[0]["date"] == source.index[0].date()
    co2_rows = pq.read_table(out / "co2_weekly.parquet")
    assert co2_rows.num_rows == int(co2.load_pandas().data["co2"].notna().sum())
    enso = {r["date"]: r["sst_nino12"] for r in pq.read_table(out / "enso_sst_monthly.parquet").to_pylist()}
    frame = elnino.load_pandas().data
    assert enso[dt.date(1950, 3, 1)] == frame.loc[frame["YEAR"] == 1950, "MAR"].iloc[0]
    stocks = pq.read_table(out / "stock_prices_monthly.parquet")
    assert stocks.num_rows == len(local_data.stocks(use_local=True))
    hourly = pq.read_table(out / "weather_hourly.parquet")
    assert hourly.num_rows == (len(local_data.seattle_temps(use_local=True))
                               + len(local_data.sf_temps(use_local=True)))
