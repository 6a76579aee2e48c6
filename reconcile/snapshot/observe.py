"""Observing a table's data expectations: one scan measures every metric.

`observation_query` builds that one query (pure: SQL text, parameters, and the metrics
known without a query); `measure` runs it through the query function it is given and
returns the metrics as JSON-friendly data. `read_snapshot` measures every existing
table with expectations (its step 7); `observe_table` measures one table now, for the
executor's Validate gate. Both reach BigQuery only through the adapter they are given;
this module builds no client, reads no clock and no environment.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from reconcile import identifiers as ids
from reconcile.bq.sqltext import QuotedIdent, qtable, render_sql
from reconcile.snapshot.model import ColumnState, jsonable
from reconcile.spec.model import canonical_type

if TYPE_CHECKING:
    from reconcile.bq.adapter import Adapter
    from reconcile.spec.model import DesiredState, Expectations

# Column types no aggregate below accepts (MIN/MAX/COUNT DISTINCT/CAST AS STRING).
_OPAQUE_TYPES = ("STRUCT", "RECORD", "JSON", "GEOGRAPHY", "ARRAY")


def strip_comments(sql: str) -> str:
    """A rendered sql/ template without its comment lines: they document the file, not the query."""
    return "\n".join(line for line in sql.splitlines() if not line.lstrip().startswith("--")).strip()


def placeholder_strings(values: list[Any] | tuple[Any, ...]) -> list[str]:
    """The STRING spellings a placeholder value can take once a column is CAST AS STRING.

    Numbers get both spellings ('1' and '1.0'): BigQuery casts FLOAT64 1.0 to '1', the
    emulator (DuckDB) to '1.0'. Booleans cast to 'true'/'false'."""
    out: list[str] = []
    for v in values:
        if isinstance(v, bool):
            cands = [str(v).lower(), str(v)]
        elif isinstance(v, int):
            cands = [str(v), repr(float(v))]
        elif isinstance(v, float):
            cands = [repr(v)] + ([str(int(v))] if v.is_integer() else [])
        else:
            cands = [str(v)]
        for c in cands:
            if c not in out:
                out.append(c)
    return out


def observation_query(project: str, ref: str, exp: Expectations,
                      columns: list[ColumnState] | None,
                      default_placeholders: list[Any]) -> tuple[str | None, list[Any],
                                                                list[tuple[str, str]], dict[str, Any]]:
    """Build the one query that measures every metric of a table's expectations.

    Returns (sql or None, query parameters, (output alias, metric name) pairs, metrics
    known without a query). Metric names: "rows", "columns", "distinct:<col>",
    "min:<col>", "max:<col>", "placeholders:<col>", "coverage_min:<col>",
    "coverage_max:<col>", "missing_column:<col>" (True) and "unsupported:<metric>"
    (the column's type, for ARRAY/STRUCT/JSON/GEOGRAPHY columns no aggregate takes).
    <col> is the column name as the spec writes it; BigQuery matches column names
    case-insensitively, and so does this lookup."""
    from reconcile.bq.adapter import array_param

    known: dict[str, Any] = {}
    by_lower = {c.name.lower(): c for c in columns or []}
    if columns is not None:
        known["columns"] = len(columns)
    wanted: list[tuple[str, str]] = [("rows", "COUNT(*)")]  # (metric, expression)
    params: list[Any] = []

    def add(metric: str, spec_col: str, form: str) -> None:
        c = by_lower.get(spec_col.lower())
        if c is None and columns is not None:
            known[f"missing_column:{spec_col}"] = True
            return
        name = c.name if c is not None else spec_col
        if c is not None and (c.mode == "REPEATED" or c.type.upper().startswith(_OPAQUE_TYPES)):
            known[f"unsupported:{metric}"] = f"ARRAY<{c.type}>" if c.mode == "REPEATED" else c.type
            return
        wanted.append((metric, form.format(c=ids.quote_column(name))))

    for col in exp.min_distinct:
        add(f"distinct:{col}", col, "COUNT(DISTINCT {c})")
    for col in exp.ranges:
        add(f"min:{col}", col, "MIN({c})")
        add(f"max:{col}", col, "MAX({c})")
    for col, values in exp.placeholders.items():
        pname = f"placeholders_{len(params)}"
        before = len(wanted)
        add(f"placeholders:{col}", col, "COUNTIF(CAST({c} AS STRING) IN UNNEST(@" + pname + "))")
        if len(wanted) > before:
            params.append(array_param(pname, "STRING",
                                      placeholder_strings(values or default_placeholders)))
    if exp.coverage is not None:
        col = exp.coverage.column
        add(f"coverage_min:{col}", col, "MIN({c})")
        add(f"coverage_max:{col}", col, "MAX({c})")
    if len(wanted) == 1 and exp.min_rows is None:
        return None, [], [], known  # only min_columns, or nothing measurable: no scan
    aliases = [(f"m{i}", metric) for i, (metric, _) in enumerate(wanted)]
    exprs = [QuotedIdent(f"{expr} AS `m{i}`") for i, (_, expr) in enumerate(wanted)]
    ds, t = ids.split_table_ref(ref)
    sql = render_sql("snapshot/observe.sql", metrics=exprs, table=qtable(project, ds, t))
    return strip_comments(sql), params, aliases, known


def measure(query: Callable[[str, list[Any]], list[dict[str, Any]]], project: str, ref: str,
            exp: Expectations, columns: list[ColumnState] | None,
            default_placeholders: list[Any]) -> dict[str, Any]:
    """A table's expectation metrics (see `observation_query`), sorted by metric name.

    `query(sql, params)` runs the scan and returns its rows; it is not called when every
    metric is known without one."""
    sql, params, aliases, known = observation_query(project, ref, exp, columns, default_placeholders)
    obs = dict(known)
    if sql is not None:
        result = query(sql, params)
        row = result[0] if result else {}
        for alias, metric in aliases:
            obs[metric] = jsonable(row.get(alias))
    return dict(sorted(obs.items()))


def observe_table(adapter: Adapter, desired: DesiredState, ref: str, exp: Expectations,
                  location: str | None = None) -> dict[str, Any]:
    """Measure one table's expectation metrics now (the executor's Validate gate).

    The same metrics and query as the snapshot's step 7, for one table: its columns
    come from one tables.get, then one scan. Returns {} if the table does not exist."""
    schema = adapter.get_schema(ref)
    if schema is None:
        return {}
    cols = [ColumnState(name=f.name, type=canonical_type(f.field_type),
                        mode=f.mode or "NULLABLE") for f in schema]
    return measure(lambda sql, params: adapter.query(sql, params, location=location, what=f"observe {ref}"),
                   adapter.project, ref, exp, cols, list(desired.placeholder_values))
