"""Clean per-source tables: each public data set read once, as a checked pyarrow table.

Every loader reads one data set from its installed package (see `provenance` for where
each comes from), keeps its values as they are (only rows a source leaves empty are
dropped), and passes it through `finish`, which raises on anything the demo's rules
forbid (nulls, NaNs, duplicate keys, non-snake_case names, a type BigQuery is not given
here) instead of repairing it: filling a gap would be inventing data. Loaders are
cached; pyarrow tables are immutable, so sharing them is safe.

No BigQuery, no Prefect, no clock; no file is written here.
"""

from __future__ import annotations

import datetime as dt
import functools
import importlib
import re

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

# The only column types the demo data uses, and their BigQuery names.
BIGQUERY_TYPES = {
    pa.date32(): "DATE",
    pa.float64(): "FLOAT64",
    pa.int64(): "INT64",
    pa.string(): "STRING",
}
_SNAKE_CASE = re.compile(r"^[a-z][a-z0-9_]*$")


# --------------------------------------------------------------------------------------------
# Column helpers
# --------------------------------------------------------------------------------------------


def date_array(values) -> pa.Array:
    stamps = pd.DatetimeIndex(values)
    if stamps.tz is not None or bool((stamps != stamps.normalize()).any()):
        raise ValueError("expected calendar dates, found a time of day or a time zone")
    return pa.array(stamps.values.astype("datetime64[D]"), type=pa.date32())


def float_array(values) -> pa.Array:
    return pa.array(np.asarray(values, dtype=np.float64), type=pa.float64())


def int_array(values) -> pa.Array:
    return pa.array(np.asarray(values, dtype=np.int64), type=pa.int64())


def string_array(values) -> pa.Array:
    return pa.array([str(v) for v in values], type=pa.string())


def constant(value, n: int, type_: pa.DataType) -> pa.Array:
    return pa.array([value] * n, type=type_)


def finish(table: pa.Table, keys: list[str]) -> pa.Table:
    """Check a table against the demo's rules, then sort it by its keys.

    Raises rather than repairs: a package update that brings NaNs, gaps or duplicates must
    stop the build, because filling them in would be inventing data.
    """
    for field in table.schema:
        if not _SNAKE_CASE.match(field.name):
            raise ValueError(f"column {field.name!r} is not lowercase snake_case")
        if field.type not in BIGQUERY_TYPES:
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


def _by_date(dates, **columns: pa.Array) -> pa.Table:
    """A source table keyed by date: `date` first, then the given columns in order."""
    return finish(pa.table({"date": date_array(dates), **columns}), ["date"])


# --------------------------------------------------------------------------------------------
# Sources (arch.data, vega_datasets, statsmodels.datasets)
# --------------------------------------------------------------------------------------------


def _arch_frame(name: str) -> pd.DataFrame:
    module = importlib.import_module(f"arch.data.{name}")
    return module.load()


@functools.cache
def index_daily(name: str) -> pa.Table:
    """arch.data.sp500 / arch.data.nasdaq as date, open, high, low, close, adj_close, volume."""
    frame = _arch_frame(name)
    prices = {c.lower().replace(" ", "_"): float_array(frame[c])
              for c in ("Open", "High", "Low", "Close", "Adj Close")}
    return _by_date(frame.index, **prices, volume=int_array(frame["Volume"]))


@functools.cache
def _single_series(name: str, column: str) -> pa.Table:
    """One column of an arch data set as (date, value), rows without a value dropped."""
    series = _arch_frame(name)[column].dropna()
    return _by_date(series.index, value=float_array(series))


def wti_daily() -> pa.Table:
    return _single_series("wti", "DCOILWTICO")


def core_cpi_monthly() -> pa.Table:
    return _single_series("core_cpi", "CPILFESL")


def vix_daily() -> pa.Table:
    return _single_series("vix", "vix")


@functools.cache
def moodys_monthly() -> pa.Table:
    frame = _arch_frame("default").dropna()
    return _by_date(frame.index, aaa=float_array(frame["AAA"]), baa=float_array(frame["BAA"]))


@functools.cache
def seattle_weather() -> pa.Table:
    from vega_datasets import local_data

    frame = local_data.seattle_weather(use_local=True)
    measures = {c: float_array(frame[c]) for c in ("precipitation", "temp_max", "temp_min", "wind")}
    return _by_date(frame["date"], **measures, weather=string_array(frame["weather"]))


@functools.cache
def us_macro_quarterly() -> pa.Table:
    from statsmodels.datasets import macrodata

    frame = macrodata.load_pandas().data
    years, quarters = frame["year"].to_numpy(), frame["quarter"].to_numpy()
    if not (np.all(years == np.round(years)) and np.all(np.isin(quarters, [1, 2, 3, 4]))):
        raise ValueError("macrodata year/quarter are not whole numbers")
    dates = [dt.date(int(y), 3 * int(q) - 2, 1) for y, q in zip(years, quarters)]
    columns = {
        "date": pa.array(dates, type=pa.date32()),
        "year": int_array(years),
        "quarter": int_array(quarters),
    }
    for name in ("realgdp", "realcons", "realinv", "realgovt", "realdpi", "cpi", "m1",
                 "tbilrate", "unemp", "pop", "infl", "realint"):
        columns[name] = float_array(frame[name])
    return finish(pa.table(columns), ["date"])


# --------------------------------------------------------------------------------------------
# More sources (issue 17: the plan's 19 staging files). Each keeps the package's values; the
# only changes are a date built from the package's own period labels and dropped empty rows.
# --------------------------------------------------------------------------------------------


@functools.cache
def crude_monthly() -> pa.Table:
    """arch.data.crude: Brent and WTI monthly spot prices, dated as the package dates them
    (the 15th of each month)."""
    frame = _arch_frame("crude").dropna()
    return _by_date(frame.index, brent=float_array(frame["Brent"]), wti=float_array(frame["WTI"]))


@functools.cache
def fama_french_monthly() -> pa.Table:
    """arch.data.frenchdata: Ken French's monthly factors. The package's index holds the
    month as the integer YYYYMM (read as nanoseconds since 1970 by pandas); it is turned
    into the first day of that month."""
    frame = _arch_frame("frenchdata")
    yyyymm = np.asarray(frame.index.asi8, dtype=np.int64)
    years, months = yyyymm // 100, yyyymm % 100
    if not (np.all((months >= 1) & (months <= 12)) and np.all((years > 1900) & (years < 2100))):
        raise ValueError("frenchdata index is not YYYYMM")
    dates = [dt.date(int(y), int(m), 1) for y, m in zip(years, months)]
    cols = {"mkt_rf": "Mkt-RF", "smb": "SMB", "hml": "HML", "rf": "RF"}
    return finish(pa.table({"date": pa.array(dates, type=pa.date32()),
                            **{n: float_array(frame[c]) for n, c in cols.items()}}), ["date"])


@functools.cache
def co2_weekly() -> pa.Table:
    """statsmodels co2: weekly Mauna Loa CO2 (ppm), weeks without a value dropped."""
    from statsmodels.datasets import co2

    series = co2.load_pandas().data["co2"].dropna()
    return _by_date(series.index, co2_ppm=float_array(series))


@functools.cache
def enso_sst_monthly() -> pa.Table:
    """statsmodels elnino: Nino 1+2 monthly sea-surface temperature, one row per month
    (the package has one row per year, one column per month)."""
    from statsmodels.datasets import elnino

    frame = elnino.load_pandas().data
    months = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
    dates, values = [], []
    for _, row in frame.iterrows():
        year = float(row["YEAR"])
        if year != round(year):
            raise ValueError("elnino YEAR is not a whole number")
        for i, m in enumerate(months):
            if pd.notna(row[m]):
                dates.append(dt.date(int(year), i + 1, 1))
                values.append(float(row[m]))
    return finish(pa.table({"date": pa.array(dates, type=pa.date32()),
                            "sst_nino12": float_array(values)}), ["date"])


@functools.cache
def stocks_monthly() -> pa.Table:
    """vega_datasets stocks: AAPL, AMZN, GOOG, IBM, MSFT prices, one per month."""
    from vega_datasets import local_data

    frame = local_data.stocks(use_local=True)
    return finish(pa.table({"date": date_array(frame["date"]),
                            "symbol": string_array(frame["symbol"]),
                            "price": float_array(frame["price"])}), ["date", "symbol"])


US_EMPLOYMENT_COLUMNS = (
    "nonfarm", "private", "goods_producing", "service_providing", "private_service_providing",
    "mining_and_logging", "construction", "manufacturing", "durable_goods", "nondurable_goods",
    "trade_transportation_utilties", "wholesale_trade", "retail_trade",
    "transportation_and_warehousing", "utilities", "information", "financial_activities",
    "professional_and_business_services", "education_and_health_services",
    "leisure_and_hospitality", "other_services", "government", "nonfarm_change",
)


@functools.cache
def us_employment_monthly() -> pa.Table:
    """vega_datasets us-employment: BLS CES employment by supersector (thousands), monthly.
    Column names as the package spells them (`trade_transportation_utilties` included)."""
    from vega_datasets import local_data

    frame = local_data.us_employment(use_local=True)
    if tuple(frame.columns[1:]) != US_EMPLOYMENT_COLUMNS:
        raise ValueError(f"us-employment columns changed: {list(frame.columns)}")
    return _by_date(frame["month"], **{c: int_array(frame[c]) for c in US_EMPLOYMENT_COLUMNS})


@functools.cache
def iowa_electricity_annual() -> pa.Table:
    """vega_datasets iowa-electricity: EIA net generation by source (thousand MWh), yearly."""
    from vega_datasets import local_data

    frame = local_data.iowa_electricity(use_local=True)
    return finish(pa.table({"date": date_array(frame["year"]),
                            "energy_source": string_array(frame["source"]),
                            "net_generation": int_array(frame["net_generation"])}),
                  ["date", "energy_source"])


@functools.cache
def elec_equip_monthly() -> pa.Table:
    """statsmodels elec_equip: Eurostat euro-area turnover index of electrical equipment."""
    from statsmodels.datasets import elec_equip

    series = elec_equip.load_pandas().data["STS.M.I7.W.TOVT.NS0016.4.000"].dropna()
    return _by_date(series.index, turnover_index=float_array(series))


def _quarter_start(years, quarters) -> list[dt.date]:
    years, quarters = np.asarray(years), np.asarray(quarters)
    if not (np.all(years == np.round(years)) and np.all(np.isin(quarters, [1, 2, 3, 4]))):
        raise ValueError("year/quarter are not whole numbers")
    return [dt.date(int(y), 3 * int(q) - 2, 1) for y, q in zip(years, quarters)]


@functools.cache
def de_interest_inflation_quarterly() -> pa.Table:
    """statsmodels interest_inflation: (West) German inflation (delta log GDP deflator) and
    long-term interest rate, quarterly 1972Q2-1998Q4."""
    from statsmodels.datasets import interest_inflation

    frame = interest_inflation.load_pandas().data
    return finish(pa.table({"date": pa.array(_quarter_start(frame["year"], frame["quarter"]),
                                             type=pa.date32()),
                            "dp": float_array(frame["Dp"]), "r": float_array(frame["R"])}),
                  ["date"])


@functools.cache
def dk_money_demand_quarterly() -> pa.Table:
    """statsmodels danish_data: Johansen-Juselius Danish money demand data, quarterly."""
    from statsmodels.datasets import danish_data

    frame = danish_data.load_pandas().data
    return _by_date(frame.index, **{c: float_array(frame[c])
                                    for c in ("lrm", "lry", "lpy", "ibo", "ide")})


@functools.cache
def vix_ohlc_2009() -> pa.Table:
    """vega_datasets ohlc: CBOE VIX daily open/high/low/close, June-July 2009, with the
    package's own `signal` and `ret` columns."""
    from vega_datasets import local_data

    frame = local_data.ohlc(use_local=True)
    return _by_date(frame["date"], **{c: float_array(frame[c]) for c in ("open", "high", "low",
                                                                        "close")},
                    signal=string_array(frame["signal"]), ret=float_array(frame["ret"]))


@functools.cache
def hourly_temperatures() -> pa.Table:
    """vega_datasets seattle-temps and sf-temps: hourly temperature (F) in 2010, as
    (date, hour, station, temp)."""
    from vega_datasets import local_data

    parts = []
    for station, frame in (("SEATTLE_WA", local_data.seattle_temps(use_local=True)),
                           ("SAN_FRANCISCO_CA", local_data.sf_temps(use_local=True))):
        stamps = pd.DatetimeIndex(frame["date"])
        parts.append(pa.table({
            "date": date_array(stamps.normalize()),
            "hour": int_array(stamps.hour),
            "station": constant(station, len(frame), pa.string()),
            "temp": float_array(frame["temp"]),
        }))
    return finish(pa.concat_tables(parts), ["date", "hour", "station"])
