"""Real, offline demo data for the `cbi-v14` reference desired state.

The reconciler's first user migrates `cbi-v14`. To exercise the whole path (staging files ->
MERGE loads, legacy tables -> backup, migration, repair, archive) without a network and
without the team's private data, this module builds two things:

* `build_staging(out_dir)`: staging Parquet files named as in the migration plan, plus a
  `PROVENANCE.json` manifest beside them (one entry per file: destination table, keys, row
  count, BigQuery column types, date range, and where every value came from).
* `legacy_tables()`: the legacy warehouse as the 2025-11-19 audit found it, as pyarrow tables
  keyed "dataset.table", with `legacy_provenance()` saying where each came from.

The one rule: no fake data. Every value is read from a public dataset that ships inside an
installed PyPI package (`arch.data`, `statsmodels.datasets`, `vega_datasets` local files) or
is computed from such values (a join on date, a forward return). Labels that name the real
origin of a series (a ticker, a station name) are the only constants. Sources with no real
offline copy (CFTC commitments, Alpha Vantage) are listed in `MISSING_SOURCES` and in the
manifest as missing; no file is ever written for them and nothing stands in for them.
Missing observations in a source (FRED's empty holiday rows) are dropped, never filled.

The public data ends in 2018-2019, so the legacy training tables
(`models_v4.production_training_data_1m` / `_3m`) hold only rows from 2010-01-01 onward: the
story is that the pre-2010 rows live in the archive (`model_backups_oct27`, an earlier cut of
the full history starting 1999). Every training row carries the audit's placeholders,
`regime = 'allhistory'` and `training_weight = 1`, which the tool must later repair.

Output is deterministic: rows sorted by their keys, no pandas index or schema metadata,
Parquet written with a fixed codec, JSON written with a fixed key order. Running
`build_staging` twice gives byte-identical files.

The package follows the data: `provenance` (where every value comes from, as records),
`series` (each public data set read once and checked), and this module (what is built from
them: the staging files and the legacy warehouse). It is not split by source family (market,
macro, weather) because the outputs cross families: `fred_macro_expanded` holds WTI, core CPI
and Moody's yields, and the training tables join WTI, the S&P 500 and the VIX.

This module must not talk to BigQuery or Prefect (no `google.cloud`, no `prefect` imports):
it only builds pyarrow tables and writes local files.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import os
import pathlib
from dataclasses import dataclass
from typing import Callable

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from reconcile.demo import series as S
from reconcile.demo.provenance import (
    CRUDE_MONTHLY,
    DE_INTEREST_INFLATION,
    DK_MONEY_DEMAND,
    ELEC_EQUIP,
    ENSO_SST,
    FAMA_FRENCH,
    FRED_CORE_CPI,
    FRED_WTI,
    IOWA_ELECTRICITY,
    MAUNA_LOA_CO2,
    MISSING_SOURCES,
    MOODYS_YIELDS,
    SEATTLE_TEMPS,
    SEATTLE_WEATHER,
    SF_TEMPS,
    STOCKS_MONTHLY,
    US_EMPLOYMENT,
    US_MACRO,
    VIX,
    VIX_OHLC_2009,
    YAHOO_NASDAQ,
    YAHOO_SP500,
    Source,
    source_dict,
)

__all__ = [
    "MISSING_SOURCES",
    "PROVENANCE_FILE",
    "build_staging",
    "legacy_provenance",
    "legacy_tables",
]

PROVENANCE_FILE = "PROVENANCE.json"

# Parquet codec: fixed so the bytes do not depend on pyarrow's default.
_COMPRESSION = "zstd"

# Training horizons, in rows of the joined (WTI and S&P 500 both observed) trading calendar.
_HORIZONS = {"1m": 21, "3m": 63}
_LEGACY_TRAINING_START = dt.date(2010, 1, 1)
# The "earlier cut" kept by the 2025-10-27 backups.
_BACKUP_CUTOFF = dt.date(2015, 12, 31)
_PLACEHOLDER_REGIME = "allhistory"
_PLACEHOLDER_WEIGHT = 1


# --------------------------------------------------------------------------------------------
# Staging files
# --------------------------------------------------------------------------------------------


def _labelled(table: pa.Table, label: str, value: str, columns: dict[str, str]) -> pa.Table:
    """`date`, a constant STRING column `label` holding `value` (a ticker, a series id, a
    station), then `columns` of `table` ({new name: column})."""
    return pa.table({
        "date": table.column("date"),
        label: S.constant(value, table.num_rows, pa.string()),
        **{new: table.column(old) for new, old in columns.items()},
    })


def _staging_yahoo_historical_prefixed() -> pa.Table:
    prices = {f"yahoo_{c}": c for c in ("open", "high", "low", "close", "adj_close", "volume")}
    return pa.concat_tables([_labelled(S.index_daily(name), "symbol", symbol, prices)
                             for symbol, name in (("^GSPC", "sp500"), ("^IXIC", "nasdaq"))])


def _staging_fred_macro_expanded() -> pa.Table:
    moodys = S.moodys_monthly()
    return pa.concat_tables([
        _labelled(S.wti_daily(), "series_id", "DCOILWTICO", {"value": "value"}),
        _labelled(S.core_cpi_monthly(), "series_id", "CPILFESL", {"value": "value"}),
        _labelled(moodys, "series_id", "AAA", {"value": "aaa"}),
        _labelled(moodys, "series_id", "BAA", {"value": "baa"}),
    ])


def _staging_weather_granular() -> pa.Table:
    measures = ("precipitation", "temp_max", "temp_min", "wind", "weather")
    return _labelled(S.seattle_weather(), "station", "SEATTLE_WA", {c: c for c in measures})


def _staging_vix_daily() -> pa.Table:
    vix = S.vix_daily()
    return pa.table({"date": vix.column("date"), "vix_close": vix.column("value")})


@dataclass(frozen=True)
class _StagingFile:
    table: str
    keys: tuple[str, ...]
    build: Callable[[], pa.Table]
    sources: tuple[Source, ...]

    @property
    def file(self) -> str:
        """Named after its table, as in the migration plan."""
        return self.table.split(".", 1)[1] + ".parquet"


# Order: the migration plan's first five files, in its order (missing ones marked by
# MISSING_SOURCES), then the extra real series.
_STAGING: tuple[_StagingFile | dict, ...] = (
    _StagingFile("market_data.yahoo_historical_prefixed", ("date", "symbol"),
                 _staging_yahoo_historical_prefixed, (YAHOO_SP500, YAHOO_NASDAQ)),
    _StagingFile("raw_intelligence.fred_macro_expanded", ("date", "series_id"),
                 _staging_fred_macro_expanded, (FRED_WTI, FRED_CORE_CPI, MOODYS_YIELDS)),
    _StagingFile("raw_intelligence.weather_granular", ("date", "station"),
                 _staging_weather_granular, (SEATTLE_WEATHER,)),
    *MISSING_SOURCES,
    _StagingFile("raw_intelligence.us_macro_quarterly", ("date",), S.us_macro_quarterly, (US_MACRO,)),
    _StagingFile("market_data.vix_daily", ("date",), _staging_vix_daily, (VIX,)),
    # The plan's other staging files (issue 17): 19 in all, 17 from real public data.
    _StagingFile("market_data.crude_oil_monthly", ("date",), S.crude_monthly, (CRUDE_MONTHLY,)),
    _StagingFile("market_data.stock_prices_monthly", ("date", "symbol"), S.stocks_monthly,
                 (STOCKS_MONTHLY,)),
    _StagingFile("market_data.vix_ohlc_daily", ("date",), S.vix_ohlc_2009, (VIX_OHLC_2009,)),
    _StagingFile("raw_intelligence.fama_french_factors", ("date",), S.fama_french_monthly,
                 (FAMA_FRENCH,)),
    _StagingFile("raw_intelligence.co2_weekly", ("date",), S.co2_weekly, (MAUNA_LOA_CO2,)),
    _StagingFile("raw_intelligence.enso_sst_monthly", ("date",), S.enso_sst_monthly, (ENSO_SST,)),
    _StagingFile("raw_intelligence.us_employment_monthly", ("date",), S.us_employment_monthly,
                 (US_EMPLOYMENT,)),
    _StagingFile("raw_intelligence.iowa_electricity_annual", ("date", "energy_source"),
                 S.iowa_electricity_annual, (IOWA_ELECTRICITY,)),
    _StagingFile("raw_intelligence.eu_electrical_equipment_monthly", ("date",),
                 S.elec_equip_monthly, (ELEC_EQUIP,)),
    _StagingFile("raw_intelligence.de_interest_inflation_quarterly", ("date",),
                 S.de_interest_inflation_quarterly, (DE_INTEREST_INFLATION,)),
    _StagingFile("raw_intelligence.dk_money_demand_quarterly", ("date",),
                 S.dk_money_demand_quarterly, (DK_MONEY_DEMAND,)),
    _StagingFile("raw_intelligence.weather_hourly", ("date", "hour", "station"),
                 S.hourly_temperatures, (SEATTLE_TEMPS, SF_TEMPS)),
)


def _bigquery_columns(schema: pa.Schema) -> dict[str, str]:
    return {field.name: S.BIGQUERY_TYPES[field.type] for field in schema}


def _date_range(table: pa.Table) -> list[str]:
    bounds = pc.min_max(table.column("date"))
    return [bounds["min"].as_py().isoformat(), bounds["max"].as_py().isoformat()]


def _write_bytes_atomically(path: pathlib.Path, write: Callable[[pathlib.Path], None]) -> None:
    # Write beside the target, then rename: a reader never sees a half-written file.
    tmp = path.with_name(f".{path.name}.tmp")
    write(tmp)
    os.replace(tmp, path)


def build_staging(out_dir: pathlib.Path) -> list[dict]:
    """Write the staging Parquet files and `PROVENANCE.json` into `out_dir`.

    Returns the manifest entries (the same list that `PROVENANCE.json` holds). Entries for
    sources with no real offline copy carry `"missing": true` and a reason; no file is written
    for them. Deterministic: the same bytes on every run with the same package versions.
    """
    out_dir = pathlib.Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    entries: list[dict] = []
    for item in _STAGING:
        if isinstance(item, dict):
            entries.append({
                "file": item["file"],
                "table": item["table"],
                "missing": True,
                "reason": item["reason"],
            })
            continue
        table = S.finish(item.build(), list(item.keys))
        _write_bytes_atomically(
            out_dir / item.file,
            lambda p, t=table: pq.write_table(t, p, compression=_COMPRESSION),
        )
        entries.append({
            "file": item.file,
            "table": item.table,
            "missing": False,
            "keys": list(item.keys),
            "rows": table.num_rows,
            "columns": _bigquery_columns(table.schema),
            "date_range": _date_range(table),
            "source": source_dict(item.sources),
        })
    text = json.dumps(entries, indent=2, ensure_ascii=False) + "\n"
    _write_bytes_atomically(out_dir / PROVENANCE_FILE,
                            lambda p: p.write_text(text, encoding="utf-8"))
    return entries


# --------------------------------------------------------------------------------------------
# Legacy warehouse
# --------------------------------------------------------------------------------------------


@functools.cache
def _training_full_history(horizon: str, steps: int | None = None) -> pa.Table:
    """WTI and S&P 500 closes joined on date, with the forward WTI return over `horizon`.

    target_<h> = wti_close[t + n] / wti_close[t] - 1, n rows ahead on the joined calendar
    (21 for 1m, 63 for 3m, or `steps`); the last n rows have no target and are dropped.
    """
    steps = _HORIZONS[horizon] if steps is None else steps
    wti = S.wti_daily().to_pandas().rename(columns={"value": "wti_close"})
    spx = S.index_daily("sp500").select(["date", "close"]).to_pandas()
    joined = wti.merge(spx.rename(columns={"close": "sp500_close"}), on="date", how="inner")
    joined = joined.sort_values("date", kind="stable").reset_index(drop=True)
    target = joined["wti_close"].shift(-steps) / joined["wti_close"] - 1.0
    keep = target.notna().to_numpy()
    joined, target = joined[keep], target[keep]
    n = len(joined)
    table = pa.table({
        "date": pa.array(joined["date"].tolist(), type=pa.date32()),
        "wti_close": S.float_array(joined["wti_close"]),
        "sp500_close": S.float_array(joined["sp500_close"]),
        f"target_{horizon}": S.float_array(target),
        "regime": S.constant(_PLACEHOLDER_REGIME, n, pa.string()),
        "training_weight": S.constant(_PLACEHOLDER_WEIGHT, n, pa.int64()),
    })
    return S.finish(table, ["date"])


def training_full_history(horizon: str, steps: int) -> pa.Table:
    """The legacy training table of any horizon over the whole joined history, `steps`
    joined trading days ahead (the tests build other legacy layouts with it)."""
    return _training_full_history(horizon, steps)


def _models_v5_training_1m() -> pa.Table:
    base = _training_full_history("1m")
    vix = S.vix_daily().rename_columns(["date", "vix_close"])
    joined = base.join(vix, keys="date", join_type="inner")
    order = ["date", "wti_close", "sp500_close", "vix_close", "target_1m", "regime",
             "training_weight"]
    return joined.select(order)


def _filter_dates(table: pa.Table, *, start: dt.date | None = None,
                  end: dt.date | None = None) -> pa.Table:
    mask = pc.is_valid(table.column("date"))
    if start is not None:
        mask = pc.and_(mask, pc.greater_equal(table.column("date"), pa.scalar(start)))
    if end is not None:
        mask = pc.and_(mask, pc.less_equal(table.column("date"), pa.scalar(end)))
    return table.filter(mask)


def _renamed(table: pa.Table, names: dict[str, str]) -> pa.Table:
    return table.select(list(names)).rename_columns(list(names.values()))


@dataclass(frozen=True)
class _LegacyTable:
    build: Callable[[], pa.Table]
    sources: tuple[Source, ...]
    derivation: str
    keys: tuple[str, ...] = ("date",)


_LEGACY: dict[str, _LegacyTable] = {
    "forecasting_data_warehouse.crude_oil_prices": _LegacyTable(
        lambda: S.wti_daily().rename_columns(["date", "close"]), (FRED_WTI,),
        "WTI daily close (DCOILWTICO), holiday rows without a value dropped",
    ),
    "forecasting_data_warehouse.sp500_prices": _LegacyTable(
        lambda: S.index_daily("sp500").select(["date", "close", "volume"]),
        (YAHOO_SP500,), "S&P 500 daily close and volume",
    ),
    "forecasting_data_warehouse.vix_daily": _LegacyTable(
        lambda: S.vix_daily().rename_columns(["date", "close"]), (VIX,),
        "VIX daily close, holiday rows without a value dropped",
    ),
    "forecasting_data_warehouse.corporate_bond_yields": _LegacyTable(
        lambda: _renamed(S.moodys_monthly(), {"date": "date", "aaa": "aaa_yield",
                                              "baa": "baa_yield"}),
        (MOODYS_YIELDS,),
        "Moody's Aaa/Baa monthly yields (corporate, not Treasury: no Treasury series ships "
        "offline at daily frequency)",
    ),
    "forecasting_data_warehouse_backup_20251027.crude_oil_prices": _LegacyTable(
        lambda: _filter_dates(S.wti_daily(), end=_BACKUP_CUTOFF).rename_columns(["date", "close"]),
        (FRED_WTI,),
        f"earlier cut of forecasting_data_warehouse.crude_oil_prices: rows up to "
        f"{_BACKUP_CUTOFF.isoformat()}",
    ),
    "model_backups_oct27.production_training_data_1m_backup": _LegacyTable(
        lambda: _filter_dates(_training_full_history("1m"), end=_BACKUP_CUTOFF),
        (FRED_WTI, YAHOO_SP500),
        "earlier cut of the full-history 1m training table (from 1999-01-04, the first joined "
        f"date, up to {_BACKUP_CUTOFF.isoformat()}): holds the pre-2010 rows that "
        "models_v4 no longer has. Same placeholders (regime='allhistory', training_weight=1).",
    ),
    "models_v4.production_training_data_1m": _LegacyTable(
        lambda: _filter_dates(_training_full_history("1m"), start=_LEGACY_TRAINING_START),
        (FRED_WTI, YAHOO_SP500),
        "WTI and S&P 500 closes joined on date; target_1m = WTI close 21 joined trading days "
        "ahead / WTI close - 1 (computed on the full history, last 21 rows dropped); only rows "
        "from 2010-01-01 (pre-2010 rows live in the archive); placeholders "
        "regime='allhistory', training_weight=1 on every row",
    ),
    "models_v4.production_training_data_3m": _LegacyTable(
        lambda: _filter_dates(_training_full_history("3m"), start=_LEGACY_TRAINING_START),
        (FRED_WTI, YAHOO_SP500),
        "as production_training_data_1m with target_3m over 63 joined trading days "
        "(last 63 rows dropped); only rows from 2010-01-01; placeholders "
        "regime='allhistory', training_weight=1 on every row",
    ),
    "models_v5.production_training_data_1m": _LegacyTable(
        _models_v5_training_1m, (FRED_WTI, YAHOO_SP500, VIX),
        "the full-history 1m training rows inner-joined with the VIX close on date (so from "
        "2014-01-03, the first VIX date); same placeholders",
    ),
    "yahoo_finance_comprehensive.nasdaq_daily": _LegacyTable(
        lambda: S.index_daily("nasdaq"), (YAHOO_NASDAQ,),
        "NASDAQ Composite daily OHLC, adjusted close, volume",
    ),
    "yahoo_finance_comprehensive.sp500_daily": _LegacyTable(
        lambda: S.index_daily("sp500"), (YAHOO_SP500,),
        "S&P 500 daily OHLC, adjusted close, volume",
    ),
}


@functools.cache
def _legacy_tables() -> tuple[tuple[str, pa.Table], ...]:
    return tuple((name, S.finish(spec.build(), list(spec.keys)))
                 for name, spec in sorted(_LEGACY.items()))


def legacy_tables() -> dict[str, pa.Table]:
    """The legacy warehouse as the 2025-11-19 audit found it, keyed "dataset.table".

    Real data only (see the module docstring). The models_v4 training tables hold rows from
    2010-01-01 onward only; the pre-2010 rows live in the archive
    (`model_backups_oct27.production_training_data_1m_backup`). Every training row has the
    audit's placeholders: regime = 'allhistory', training_weight = 1. Tables are sorted by
    their keys and the dict by table name.
    """
    return dict(_legacy_tables())


def legacy_provenance() -> dict[str, dict]:
    """For each legacy table (same keys as `legacy_tables()`): keys, derivation and source."""
    return {
        name: {
            "keys": list(spec.keys),
            "derivation": spec.derivation,
            "source": source_dict(spec.sources),
        }
        for name, spec in sorted(_LEGACY.items())
    }
