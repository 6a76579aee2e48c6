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

This module must not talk to BigQuery or Prefect (no `google.cloud`, no `prefect` imports):
it only builds pyarrow tables and writes local files.
"""

from __future__ import annotations

import datetime as dt
import functools
import importlib
import importlib.metadata
import json
import os
import pathlib
import re
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

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

# The only column types the demo data uses, and their BigQuery names.
_BIGQUERY_TYPES = {
    pa.date32(): "DATE",
    pa.float64(): "FLOAT64",
    pa.int64(): "INT64",
    pa.string(): "STRING",
}
_SNAKE_CASE = re.compile(r"^[a-z][a-z0-9_]*$")

# Training horizons, in rows of the joined (WTI and S&P 500 both observed) trading calendar.
_HORIZONS = {"1m": 21, "3m": 63}
_LEGACY_TRAINING_START = dt.date(2010, 1, 1)
# The "earlier cut" kept by the 2025-10-27 backups.
_BACKUP_CUTOFF = dt.date(2015, 12, 31)
_PLACEHOLDER_REGIME = "allhistory"
_PLACEHOLDER_WEIGHT = 1

_ARCH_DATA_DOCS = "https://bashtage.github.io/arch/devel/data.html"


# --------------------------------------------------------------------------------------------
# Sources
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Source:
    """Where a set of values came from: an installed package and the modules that hold it."""

    package: str
    modules: tuple[str, ...]
    loaders: tuple[str, ...]
    original_source: str
    license: str
    notes: str


def _source_dict(sources: tuple[_Source, ...]) -> dict:
    """One provenance dict for values drawn from one package, possibly several data sets.

    When several data sets feed one table, each text field lists every origin, prefixed by
    its modules, so nothing about any of them is lost.
    """
    packages = {s.package for s in sources}
    if len(packages) != 1:
        raise ValueError(f"one table, one package expected, got {sorted(packages)}")

    def text(field: str) -> str:
        if len(sources) == 1:
            return getattr(sources[0], field)
        parts: list[str] = []
        for s in sources:
            part = f"[{', '.join(s.modules)}] {getattr(s, field)}"
            if part not in parts:
                parts.append(part)
        return " ".join(parts)

    package = sources[0].package
    return {
        "package": package,
        "version": importlib.metadata.version(package),
        "modules": [m for s in sources for m in s.modules],
        "loaders": [f for s in sources for f in s.loaders],
        "original_source": text("original_source"),
        "license": text("license"),
        "notes": text("notes"),
    }


def _yahoo_index(name: str, title: str, ticker: str) -> _Source:
    return _Source(
        package="arch",
        modules=(f"arch.data.{name}",),
        loaders=(f"arch.data.{name}.load",),
        original_source=(
            f"Yahoo! Finance daily history of the {title} ({ticker}): open, high, low, close, "
            "adjusted close, volume; 1999-01-04 to 2018-12-31"
        ),
        license=(
            "arch package: NCSA. Data: Yahoo! Finance market data redistributed by arch for its "
            "examples; arch states no separate data licence"
        ),
        notes=(
            "arch's examples call its index data 'financial data from Yahoo! Finance' "
            "(examples/univariate_volatility_modeling.ipynb) and its data page lists the "
            f"contents ({_ARCH_DATA_DOCS}); the Open/High/Low/Close/Adj Close/Volume layout is "
            f"Yahoo's CSV export. The package files carry no ticker: {ticker} is Yahoo's ticker "
            "for this index, used as a label."
        ),
    )


_YAHOO_SP500 = _yahoo_index("sp500", "S&P 500 index", "^GSPC")
_YAHOO_NASDAQ = _yahoo_index("nasdaq", "NASDAQ Composite index", "^IXIC")


_FRED_WTI = _Source(
    package="arch",
    modules=("arch.data.wti",),
    loaders=("arch.data.wti.load",),
    original_source=(
        "FRED series DCOILWTICO (Crude Oil Prices: West Texas Intermediate, Cushing, Oklahoma, "
        "USD per barrel; U.S. EIA via FRED), daily, 1986-01-02 to 2019-01-03"
    ),
    license="arch package: NCSA. Data: FRED (Federal Reserve Bank of St. Louis), EIA public data",
    notes=(
        "arch docstring: 'From the FRED database'; the CSV column is DCOILWTICO. FRED lists "
        "market holidays with no value: those rows are dropped, never filled."
    ),
)

_FRED_CORE_CPI = _Source(
    package="arch",
    modules=("arch.data.core_cpi",),
    loaders=("arch.data.core_cpi.load",),
    original_source=(
        "FRED series CPILFESL (Consumer Price Index for All Urban Consumers: All Items Less "
        "Food and Energy; BLS via FRED), monthly, 1957-01-01 to 2018-11-01"
    ),
    license="arch package: NCSA. Data: FRED (Federal Reserve Bank of St. Louis), BLS public data",
    notes="arch docstring: 'From the FRED database'; the CSV column is CPILFESL.",
)

_MOODYS_YIELDS = _Source(
    package="arch",
    modules=("arch.data.default",),
    loaders=("arch.data.default.load",),
    original_source=(
        "Moody's seasoned Aaa and Baa corporate bond yields (percent), monthly, "
        "1919-01-01 to 2018-12-01"
    ),
    license="arch package: NCSA. Data: arch states no source or licence for this file",
    notes=(
        "arch's docstring says only 'the rates on AAA and BAA rated bonds' and names no "
        "distributor. Its columns AAA and BAA, monthly from January 1919, match FRED series "
        "AAA and BAA (Moody's Seasoned Aaa/Baa Corporate Bond Yield), so those ids are used as "
        "series_id: the FRED attribution is inferred, not stated by the package. These are "
        "corporate bond yields, not Treasury yields."
    ),
)

_VIX = _Source(
    package="arch",
    modules=("arch.data.vix",),
    loaders=("arch.data.vix.load",),
    original_source="CBOE Volatility Index (VIX) daily close, 2014-01-03 to 2019-01-03",
    license="arch package: NCSA. Data: arch states no source or licence for this file",
    notes=(
        "arch says only 'historical VIX' and names no distributor. The file lists US market "
        "holidays with no value (e.g. 2014-01-20), the layout of FRED's VIXCLS, but the FRED id "
        "is not in the package, so VIX is kept out of fred_macro_expanded. The empty holiday "
        "rows are dropped, never filled."
    ),
)

_SEATTLE_WEATHER = _Source(
    package="vega_datasets",
    modules=("vega_datasets",),
    loaders=("vega_datasets.local_data.seattle_weather",),
    original_source=(
        "NOAA daily weather observations for Seattle, WA (precipitation, max/min temperature, "
        "wind, weather type), 2012-01-01 to 2015-12-31, public domain"
    ),
    license="vega_datasets package: MIT. Data: public-domain NOAA data",
    notes=(
        "vega_datasets: 'drawn from public-domain NOAA data, and transformed using scripts "
        "available at http://github.com/vega/vega_datasets/'. Read from the file shipped in the "
        "package (local_data, use_local=True). The package does not name the NOAA station or "
        "state units; station = 'SEATTLE_WA' is a constant label naming the location."
    ),
)

_US_MACRO = _Source(
    package="statsmodels",
    modules=("statsmodels.datasets.macrodata",),
    loaders=("statsmodels.datasets.macrodata.load_pandas",),
    original_source=(
        "US macroeconomic data 1959Q1-2009Q3 compiled by Skipper Seabold from FRED (accessed "
        "2009-12-15); unemployment rate from the Bureau of Labor Statistics"
    ),
    license="statsmodels package: BSD-3-Clause. Data: public domain (statsmodels COPYRIGHT note)",
    notes=(
        "Variables as documented in statsmodels.datasets.macrodata.NOTE. `date` is the first "
        "day of the quarter, derived from the package's year and quarter columns."
    ),
)


# --------------------------------------------------------------------------------------------
# Missing sources
# --------------------------------------------------------------------------------------------

MISSING_SOURCES: tuple[dict, ...] = (
    {
        "name": "cftc_commitments",
        "file": "cftc_commitments.parquet",
        "table": "raw_intelligence.cftc_commitments",
        "missing": True,
        "reason": (
            "CFTC Commitments of Traders reports are published by the CFTC (cftc.gov) and no "
            "installed PyPI package ships a copy; fetching them needs the network. Not "
            "generated: no file is written and nothing stands in for it."
        ),
    },
    {
        "name": "alpha_vantage_features",
        "file": "alpha_vantage_features.parquet",
        "table": "raw_intelligence.alpha_vantage_features",
        "missing": True,
        "reason": (
            "Alpha Vantage data comes only from its keyed web API under its own terms; no "
            "installed PyPI package ships a copy. Not generated: no file is written and nothing "
            "stands in for it."
        ),
    },
)


# --------------------------------------------------------------------------------------------
# Column helpers
# --------------------------------------------------------------------------------------------


def _date_array(values) -> pa.Array:
    stamps = pd.DatetimeIndex(values)
    if stamps.tz is not None or bool((stamps != stamps.normalize()).any()):
        raise ValueError("expected calendar dates, found a time of day or a time zone")
    return pa.array(stamps.values.astype("datetime64[D]"), type=pa.date32())


def _float_array(values) -> pa.Array:
    return pa.array(np.asarray(values, dtype=np.float64), type=pa.float64())


def _int_array(values) -> pa.Array:
    return pa.array(np.asarray(values, dtype=np.int64), type=pa.int64())


def _string_array(values) -> pa.Array:
    return pa.array([str(v) for v in values], type=pa.string())


def _constant(value, n: int, type_: pa.DataType) -> pa.Array:
    return pa.array([value] * n, type=type_)


def _finish(table: pa.Table, keys: list[str]) -> pa.Table:
    """Check a table against the demo's rules, then sort it by its keys.

    Raises rather than repairs: a package update that brings NaNs, gaps or duplicates must
    stop the build, because filling them in would be inventing data.
    """
    for field in table.schema:
        if not _SNAKE_CASE.match(field.name):
            raise ValueError(f"column {field.name!r} is not lowercase snake_case")
        if field.type not in _BIGQUERY_TYPES:
            raise ValueError(f"column {field.name!r} has unsupported type {field.type}")
        column = table.column(field.name)
        if column.null_count:
            raise ValueError(f"column {field.name!r} has {column.null_count} nulls")
        if pa.types.is_floating(field.type) and pc.any(pc.is_nan(column)).as_py():
            raise ValueError(f"column {field.name!r} has NaN values")
    if table.group_by(keys).aggregate([]).num_rows != table.num_rows:
        raise ValueError(f"duplicate keys {keys}")
    table = table.sort_by([(k, "ascending") for k in keys])
    return table.replace_schema_metadata(None).combine_chunks()


def _bigquery_columns(schema: pa.Schema) -> dict[str, str]:
    return {field.name: _BIGQUERY_TYPES[field.type] for field in schema}


def _date_range(table: pa.Table) -> list[str]:
    bounds = pc.min_max(table.column("date"))
    return [bounds["min"].as_py().isoformat(), bounds["max"].as_py().isoformat()]


def _filter_dates(table: pa.Table, *, start: dt.date | None = None,
                  end: dt.date | None = None) -> pa.Table:
    mask = pc.is_valid(table.column("date"))
    if start is not None:
        mask = pc.and_(mask, pc.greater_equal(table.column("date"), pa.scalar(start)))
    if end is not None:
        mask = pc.and_(mask, pc.less_equal(table.column("date"), pa.scalar(end)))
    return table.filter(mask)


# --------------------------------------------------------------------------------------------
# Clean per-source tables (cached: pyarrow tables are immutable, so sharing them is safe)
# --------------------------------------------------------------------------------------------


def _arch_frame(name: str) -> pd.DataFrame:
    module = importlib.import_module(f"arch.data.{name}")
    return module.load()


@functools.cache
def _index_daily(name: str) -> pa.Table:
    """arch.data.sp500 / arch.data.nasdaq as date, open, high, low, close, adj_close, volume."""
    frame = _arch_frame(name)
    table = pa.table({
        "date": _date_array(frame.index),
        "open": _float_array(frame["Open"]),
        "high": _float_array(frame["High"]),
        "low": _float_array(frame["Low"]),
        "close": _float_array(frame["Close"]),
        "adj_close": _float_array(frame["Adj Close"]),
        "volume": _int_array(frame["Volume"]),
    })
    return _finish(table, ["date"])


def _single_series(name: str, column: str) -> pa.Table:
    """One column of an arch data set as (date, value), rows without a value dropped."""
    series = _arch_frame(name)[column].dropna()
    table = pa.table({"date": _date_array(series.index), "value": _float_array(series)})
    return _finish(table, ["date"])


@functools.cache
def _wti_daily() -> pa.Table:
    return _single_series("wti", "DCOILWTICO")


@functools.cache
def _core_cpi_monthly() -> pa.Table:
    return _single_series("core_cpi", "CPILFESL")


@functools.cache
def _vix_daily() -> pa.Table:
    return _single_series("vix", "vix")


@functools.cache
def _moodys_monthly() -> pa.Table:
    frame = _arch_frame("default").dropna()
    table = pa.table({
        "date": _date_array(frame.index),
        "aaa": _float_array(frame["AAA"]),
        "baa": _float_array(frame["BAA"]),
    })
    return _finish(table, ["date"])


@functools.cache
def _seattle_weather() -> pa.Table:
    from vega_datasets import local_data

    frame = local_data.seattle_weather(use_local=True)
    table = pa.table({
        "date": _date_array(frame["date"]),
        "precipitation": _float_array(frame["precipitation"]),
        "temp_max": _float_array(frame["temp_max"]),
        "temp_min": _float_array(frame["temp_min"]),
        "wind": _float_array(frame["wind"]),
        "weather": _string_array(frame["weather"]),
    })
    return _finish(table, ["date"])


@functools.cache
def _us_macro_quarterly() -> pa.Table:
    from statsmodels.datasets import macrodata

    frame = macrodata.load_pandas().data
    years, quarters = frame["year"].to_numpy(), frame["quarter"].to_numpy()
    if not (np.all(years == np.round(years)) and np.all(np.isin(quarters, [1, 2, 3, 4]))):
        raise ValueError("macrodata year/quarter are not whole numbers")
    dates = [dt.date(int(y), 3 * int(q) - 2, 1) for y, q in zip(years, quarters)]
    columns = {
        "date": pa.array(dates, type=pa.date32()),
        "year": _int_array(years),
        "quarter": _int_array(quarters),
    }
    for name in ("realgdp", "realcons", "realinv", "realgovt", "realdpi", "cpi", "m1",
                 "tbilrate", "unemp", "pop", "infl", "realint"):
        columns[name] = _float_array(frame[name])
    return _finish(pa.table(columns), ["date"])


# --------------------------------------------------------------------------------------------
# Staging files
# --------------------------------------------------------------------------------------------


def _staging_yahoo_historical_prefixed() -> pa.Table:
    parts = []
    for symbol, name in (("^GSPC", "sp500"), ("^IXIC", "nasdaq")):
        daily = _index_daily(name)
        n = daily.num_rows
        parts.append(pa.table({
            "date": daily.column("date"),
            "symbol": _constant(symbol, n, pa.string()),
            **{f"yahoo_{c}": daily.column(c)
               for c in ("open", "high", "low", "close", "adj_close", "volume")},
        }))
    return pa.concat_tables(parts)


def _staging_fred_macro_expanded() -> pa.Table:
    def long(table: pa.Table, value_column: str, series_id: str) -> pa.Table:
        return pa.table({
            "date": table.column("date"),
            "series_id": _constant(series_id, table.num_rows, pa.string()),
            "value": table.column(value_column),
        })

    moodys = _moodys_monthly()
    return pa.concat_tables([
        long(_wti_daily(), "value", "DCOILWTICO"),
        long(_core_cpi_monthly(), "value", "CPILFESL"),
        long(moodys, "aaa", "AAA"),
        long(moodys, "baa", "BAA"),
    ])


def _staging_weather_granular() -> pa.Table:
    weather = _seattle_weather()
    return pa.table({
        "date": weather.column("date"),
        "station": _constant("SEATTLE_WA", weather.num_rows, pa.string()),
        **{c: weather.column(c)
           for c in ("precipitation", "temp_max", "temp_min", "wind", "weather")},
    })


def _staging_vix_daily() -> pa.Table:
    vix = _vix_daily()
    return pa.table({"date": vix.column("date"), "vix_close": vix.column("value")})


@dataclass(frozen=True)
class _StagingFile:
    file: str
    table: str
    keys: tuple[str, ...]
    build: Callable[[], pa.Table]
    sources: tuple[_Source, ...]


# Order: the migration plan's first five files, in its order (missing ones marked by
# MISSING_SOURCES), then the extra real series.
_STAGING: tuple[_StagingFile | dict, ...] = (
    _StagingFile("yahoo_historical_prefixed.parquet", "market_data.yahoo_historical_prefixed",
                 ("date", "symbol"), _staging_yahoo_historical_prefixed,
                 (_YAHOO_SP500, _YAHOO_NASDAQ)),
    _StagingFile("fred_macro_expanded.parquet", "raw_intelligence.fred_macro_expanded",
                 ("date", "series_id"), _staging_fred_macro_expanded,
                 (_FRED_WTI, _FRED_CORE_CPI, _MOODYS_YIELDS)),
    _StagingFile("weather_granular.parquet", "raw_intelligence.weather_granular",
                 ("date", "station"), _staging_weather_granular, (_SEATTLE_WEATHER,)),
    *MISSING_SOURCES,
    _StagingFile("us_macro_quarterly.parquet", "raw_intelligence.us_macro_quarterly",
                 ("date",), _us_macro_quarterly, (_US_MACRO,)),
    _StagingFile("vix_daily.parquet", "market_data.vix_daily",
                 ("date",), _staging_vix_daily, (_VIX,)),
)


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
        table = _finish(item.build(), list(item.keys))
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
            "source": _source_dict(item.sources),
        })
    text = json.dumps(entries, indent=2, ensure_ascii=False) + "\n"
    _write_bytes_atomically(out_dir / PROVENANCE_FILE,
                            lambda p: p.write_text(text, encoding="utf-8"))
    return entries


# --------------------------------------------------------------------------------------------
# Legacy warehouse
# --------------------------------------------------------------------------------------------


@functools.cache
def _training_full_history(horizon: str) -> pa.Table:
    """WTI and S&P 500 closes joined on date, with the forward WTI return over `horizon`.

    target_<h> = wti_close[t + n] / wti_close[t] - 1, n rows ahead on the joined calendar
    (21 for 1m, 63 for 3m); the last n rows have no target and are dropped.
    """
    steps = _HORIZONS[horizon]
    wti = _wti_daily().to_pandas().rename(columns={"value": "wti_close"})
    spx = _index_daily("sp500").select(["date", "close"]).to_pandas()
    joined = wti.merge(spx.rename(columns={"close": "sp500_close"}), on="date", how="inner")
    joined = joined.sort_values("date", kind="stable").reset_index(drop=True)
    target = joined["wti_close"].shift(-steps) / joined["wti_close"] - 1.0
    keep = target.notna().to_numpy()
    joined, target = joined[keep], target[keep]
    n = len(joined)
    table = pa.table({
        "date": pa.array(joined["date"].tolist(), type=pa.date32()),
        "wti_close": _float_array(joined["wti_close"]),
        "sp500_close": _float_array(joined["sp500_close"]),
        f"target_{horizon}": _float_array(target),
        "regime": _constant(_PLACEHOLDER_REGIME, n, pa.string()),
        "training_weight": _constant(_PLACEHOLDER_WEIGHT, n, pa.int64()),
    })
    return _finish(table, ["date"])


def _models_v5_training_1m() -> pa.Table:
    base = _training_full_history("1m")
    vix = _vix_daily().rename_columns(["date", "vix_close"])
    joined = base.join(vix, keys="date", join_type="inner")
    order = ["date", "wti_close", "sp500_close", "vix_close", "target_1m", "regime",
             "training_weight"]
    return joined.select(order)


def _renamed(table: pa.Table, names: dict[str, str]) -> pa.Table:
    return table.select(list(names)).rename_columns(list(names.values()))


@dataclass(frozen=True)
class _LegacyTable:
    keys: tuple[str, ...]
    build: Callable[[], pa.Table]
    sources: tuple[_Source, ...]
    derivation: str


_LEGACY: dict[str, _LegacyTable] = {
    "forecasting_data_warehouse.crude_oil_prices": _LegacyTable(
        ("date",), lambda: _wti_daily().rename_columns(["date", "close"]), (_FRED_WTI,),
        "WTI daily close (DCOILWTICO), holiday rows without a value dropped",
    ),
    "forecasting_data_warehouse.sp500_prices": _LegacyTable(
        ("date",), lambda: _index_daily("sp500").select(["date", "close", "volume"]),
        (_YAHOO_SP500,), "S&P 500 daily close and volume",
    ),
    "forecasting_data_warehouse.vix_daily": _LegacyTable(
        ("date",), lambda: _vix_daily().rename_columns(["date", "close"]), (_VIX,),
        "VIX daily close, holiday rows without a value dropped",
    ),
    "forecasting_data_warehouse.corporate_bond_yields": _LegacyTable(
        ("date",),
        lambda: _renamed(_moodys_monthly(), {"date": "date", "aaa": "aaa_yield",
                                             "baa": "baa_yield"}),
        (_MOODYS_YIELDS,),
        "Moody's Aaa/Baa monthly yields (corporate, not Treasury: no Treasury series ships "
        "offline at daily frequency)",
    ),
    "forecasting_data_warehouse_backup_20251027.crude_oil_prices": _LegacyTable(
        ("date",),
        lambda: _filter_dates(_wti_daily(), end=_BACKUP_CUTOFF).rename_columns(["date", "close"]),
        (_FRED_WTI,),
        f"earlier cut of forecasting_data_warehouse.crude_oil_prices: rows up to "
        f"{_BACKUP_CUTOFF.isoformat()}",
    ),
    "model_backups_oct27.production_training_data_1m_backup": _LegacyTable(
        ("date",), lambda: _filter_dates(_training_full_history("1m"), end=_BACKUP_CUTOFF),
        (_FRED_WTI, _YAHOO_SP500),
        "earlier cut of the full-history 1m training table (from 1999-01-04, the first joined "
        f"date, up to {_BACKUP_CUTOFF.isoformat()}): holds the pre-2010 rows that "
        "models_v4 no longer has. Same placeholders (regime='allhistory', training_weight=1).",
    ),
    "models_v4.production_training_data_1m": _LegacyTable(
        ("date",),
        lambda: _filter_dates(_training_full_history("1m"), start=_LEGACY_TRAINING_START),
        (_FRED_WTI, _YAHOO_SP500),
        "WTI and S&P 500 closes joined on date; target_1m = WTI close 21 joined trading days "
        "ahead / WTI close - 1 (computed on the full history, last 21 rows dropped); only rows "
        "from 2010-01-01 (pre-2010 rows live in the archive); placeholders "
        "regime='allhistory', training_weight=1 on every row",
    ),
    "models_v4.production_training_data_3m": _LegacyTable(
        ("date",),
        lambda: _filter_dates(_training_full_history("3m"), start=_LEGACY_TRAINING_START),
        (_FRED_WTI, _YAHOO_SP500),
        "as production_training_data_1m with target_3m over 63 joined trading days "
        "(last 63 rows dropped); only rows from 2010-01-01; placeholders "
        "regime='allhistory', training_weight=1 on every row",
    ),
    "models_v5.production_training_data_1m": _LegacyTable(
        ("date",), _models_v5_training_1m, (_FRED_WTI, _YAHOO_SP500, _VIX),
        "the full-history 1m training rows inner-joined with the VIX close on date (so from "
        "2014-01-03, the first VIX date); same placeholders",
    ),
    "yahoo_finance_comprehensive.nasdaq_daily": _LegacyTable(
        ("date",), lambda: _index_daily("nasdaq"), (_YAHOO_NASDAQ,),
        "NASDAQ Composite daily OHLC, adjusted close, volume",
    ),
    "yahoo_finance_comprehensive.sp500_daily": _LegacyTable(
        ("date",), lambda: _index_daily("sp500"), (_YAHOO_SP500,),
        "S&P 500 daily OHLC, adjusted close, volume",
    ),
}


@functools.cache
def _legacy_tables() -> tuple[tuple[str, pa.Table], ...]:
    return tuple((name, _finish(spec.build(), list(spec.keys)))
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
            "source": _source_dict(spec.sources),
        }
        for name, spec in sorted(_LEGACY.items())
    }
