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
