"""Typed query parameters: how a Python value travels with a statement (never as
SQL text). Re-exported by `reconcile.bq.adapter`.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Sequence

from google.cloud import bigquery


def param(name: str, value: Any) -> bigquery.ScalarQueryParameter:
    """A scalar parameter typed from the value: BOOL, INT64, FLOAT64, TIMESTAMP, DATE,
    else STRING (None is a NULL STRING)."""
    if isinstance(value, bool):
        return bigquery.ScalarQueryParameter(name, "BOOL", value)
    if isinstance(value, int):
        return bigquery.ScalarQueryParameter(name, "INT64", value)
    if isinstance(value, float):
        return bigquery.ScalarQueryParameter(name, "FLOAT64", value)
    if isinstance(value, dt.datetime):
        return bigquery.ScalarQueryParameter(name, "TIMESTAMP", value)
    if isinstance(value, dt.date):
        return bigquery.ScalarQueryParameter(name, "DATE", value)
    return bigquery.ScalarQueryParameter(name, "STRING", None if value is None else str(value))


def array_param(name: str, type_: str, values: Sequence[Any]) -> bigquery.ArrayQueryParameter:
    return bigquery.ArrayQueryParameter(name, type_, list(values))
