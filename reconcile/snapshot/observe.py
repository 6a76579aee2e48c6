"""Observing a table's data expectations: one scan measures every metric.

`observation_query` builds that one query (pure: SQL text, parameters, and the metrics
known without a query); `measure` runs it through the query function it is given and
returns the metrics as JSON-friendly data. `observe_many` measures many tables in few
queries (one UNION ALL per location, within BigQuery's limits): `read_snapshot` measures
every existing table with expectations with it (its step 7); `observe_table` measures one
table now, for the executor's Validate gate. Both reach BigQuery only through the adapter they are given;
this module builds no client, reads no clock and no environment.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

from reconcile import identifiers as ids
from reconcile.bq.sqltext import QuotedIdent, qtable, render_sql
from reconcile.snapshot.model import ColumnState, jsonable
from reconcile.spec.model import canonical_type, is_bigquery_type

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


def _metrics(exp: Expectations, columns: list[ColumnState] | None, default_placeholders: list[Any],
             pprefix: str = "") -> tuple[list[tuple[str, str, str | None]], list[Any], dict[str, Any]]:
    """The metrics of a table's expectations: ((metric, SQL expression, BigQuery type of the
    result or None if unknown) in order, query parameters, metrics known without a query).
    Parameter names start with `pprefix` (unique per table in a batched query)."""
    from reconcile.bq.adapter import array_param

    known: dict[str, Any] = {}
    by_lower = {c.name.lower(): c for c in columns or []}
    if columns is not None:
        known["columns"] = len(columns)
    wanted: list[tuple[str, str, str | None]] = [("rows", "COUNT(*)", "INT64")]
    params: list[Any] = []

    def add(metric: str, spec_col: str, form: str, counts: bool) -> None:
        c = by_lower.get(spec_col.lower())
        if c is None and columns is not None:
            known[f"missing_column:{spec_col}"] = True
            return
        name = c.name if c is not None else spec_col
        if c is not None and (c.mode == "REPEATED" or c.type.upper().startswith(_OPAQUE_TYPES)):
            known[f"unsupported:{metric}"] = f"ARRAY<{c.type}>" if c.mode == "REPEATED" else c.type
            return
        typ = "INT64" if counts else (c.type if c is not None else None)
        wanted.append((metric, form.format(c=ids.quote_column(name)), typ))

    for col in exp.min_distinct:
        add(f"distinct:{col}", col, "COUNT(DISTINCT {c})", True)
    for col in exp.ranges:
        add(f"min:{col}", col, "MIN({c})", False)
        add(f"max:{col}", col, "MAX({c})", False)
    for col, values in exp.placeholders.items():
        pname = f"{pprefix}placeholders_{len(params)}"
        before = len(wanted)
        add(f"placeholders:{col}", col, "COUNTIF(CAST({c} AS STRING) IN UNNEST(@" + pname + "))", True)
        if len(wanted) > before:
            params.append(array_param(pname, "STRING",
                                      placeholder_strings(values or default_placeholders)))
    if exp.coverage is not None:
        col = exp.coverage.column
        add(f"coverage_min:{col}", col, "MIN({c})", False)
        add(f"coverage_max:{col}", col, "MAX({c})", False)
    if len(wanted) == 1 and exp.min_rows is None:
        return [], [], known  # only min_columns, or nothing measurable: no scan
    return wanted, params, known


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
    wanted, params, known = _metrics(exp, columns, default_placeholders)
    if not wanted:
        return None, [], [], known
    aliases = [(f"m{i}", metric) for i, (metric, _, _) in enumerate(wanted)]
    exprs = [QuotedIdent(f"{expr} AS `m{i}`") for i, (_, expr, _) in enumerate(wanted)]
    ds, t = ids.split_table_ref(ref)
    sql = render_sql("snapshot/observe.sql", metrics=exprs, table=qtable(project, ds, t))
    return strip_comments(sql), params, aliases, known


# ---------------------------------------------------------------- batched observations
#
# The snapshot measures every table with expectations in few queries: per location, one
# UNION ALL of the tables' one-row scans, at most OBSERVE_MAX_TABLES tables a query
# (BigQuery's limit of tables referenced per query:
# https://cloud.google.com/bigquery/quotas#query_jobs "Maximum number of tables
# referenced per query: 1,000") and at most OBSERVE_MAX_SQL characters of text (the limit
# is 1,024K characters: https://cloud.google.com/bigquery/quotas#query_jobs "Maximum query
# length"). Branches of a UNION ALL must agree on their columns' types, and the metrics of
# two tables differ (MIN of a DATE, MIN of a FLOAT64), so the output columns are typed
# slots: slot k of type T holds the k-th metric of type T of whichever table the row is
# (column `_t`, the table's index); the other branches put CAST(NULL AS T) there. The
# values keep their type (no CAST AS STRING round trip), so a batched observation equals
# the single-table one.

OBSERVE_MAX_TABLES = 1000
OBSERVE_MAX_SQL = 900_000
_SIMPLE_TYPE = re.compile(r"^[A-Z][A-Z0-9_]*$")


@dataclass
class _Item:
    ref: str
    wanted: list[tuple[str, str, str | None]]
    params: list[Any]
    known: dict[str, Any]


def _batchable(item: _Item) -> bool:
    return all(t is not None and _SIMPLE_TYPE.match(t) and is_bigquery_type(t) for _, _, t in item.wanted)


def _batch_sql(project: str, batch: list[tuple[int, _Item]]) -> tuple[str, list[Any], dict[int, list[tuple[str, str]]]]:
    """One UNION ALL over the batch's tables: (sql, params, per index (alias, metric) pairs)."""
    slots: list[tuple[str, int]] = []  # (type, k) in output order
    for _, item in batch:
        per: dict[str, int] = {}
        for _, _, t in item.wanted:
            per[t] = per.get(t, 0) + 1
            if (t, per[t] - 1) not in slots:
                slots.append((t, per[t] - 1))
    slot_alias = {s: f"s{j}" for j, s in enumerate(slots)}
    branches, params, aliases = [], [], {}
    for i, item in batch:
        fill: dict[tuple[str, int], str] = {}
        per = {}
        pairs = []
        for metric, expr, t in item.wanted:
            k = per.get(t, 0)
            per[t] = k + 1
            fill[(t, k)] = expr
            pairs.append((slot_alias[(t, k)], metric))
        exprs = [QuotedIdent(f"{i} AS `_t`")] + [
            QuotedIdent(f"{fill.get(s, f'CAST(NULL AS {s[0]})')} AS `{slot_alias[s]}`") for s in slots]
        ds, tb = ids.split_table_ref(item.ref)
        branches.append("(" + strip_comments(render_sql("snapshot/observe.sql", metrics=exprs,
                                                        table=qtable(project, ds, tb))) + ")")
        params.extend(item.params)
        aliases[i] = pairs
    return "\nUNION ALL\n".join(branches), params, aliases


def observe_many(query: Callable[[str, list[Any], str], list[dict[str, Any]]], project: str,
                 tables: list[tuple[str, str, Expectations | None, list[ColumnState] | None]],
                 default_placeholders: list[Any],
                 run_all: Callable[[list[Callable[[], Any]]], list[Any]] | None = None,
                 out: dict[str, dict[str, Any]] | None = None,
                 extra: dict[str, tuple[list[tuple[str, str, str | None]], list[Any]]] | None = None,
                 ) -> dict[str, dict[str, Any]]:
    """Every table's expectation metrics (as `measure` gives them), in few queries.

    `tables`: (ref, location, expectations or None, columns). `extra`: per ref, more
    metrics measured in the same branch ((metric, SQL expression, type), parameters whose
    names start with "x<i>_", i unique per table), e.g. the load checks of
    `reconcile.snapshot.loadchecks` (a table whose expectations cannot be batched is
    measured alone, without them: the planner then reads its load checks as not
    measured). `query(sql, params, location)` runs
    one query in that location. Tables whose metric types are unknown (no columns) are
    measured one by one. A batch that fails (a table dropped meanwhile) is measured again
    table by table, so one table's error stays that table's. `run_all` runs the batches'
    queries (concurrently, if it likes); default: in order. The metrics go into `out`
    (a new dict by default) as each query ends, and are returned."""
    out = {} if out is None else out
    by_loc: dict[str, list[tuple[int, _Item]]] = {}
    alone: list[tuple[str, str, Expectations, list[ColumnState] | None]] = []
    for i, (ref, loc, exp, cols) in enumerate(sorted(tables, key=lambda x: x[0])):
        if exp is not None:
            wanted, params, known = _metrics(exp, cols, default_placeholders, pprefix=f"t{i}_")
        else:
            wanted, params, known = [], [], {}
        if extra and ref in extra:
            more, more_params = extra[ref]
            wanted = (wanted or [("rows", "COUNT(*)", "INT64")]) + list(more)
            params = params + list(more_params)
        item = _Item(ref, wanted, params, known)
        if not wanted:
            out[ref] = dict(sorted(known.items()))
        elif _batchable(item) or exp is None:
            by_loc.setdefault(loc, []).append((i, item))
        else:
            alone.append((ref, loc, exp, cols))
    jobs: list[Callable[[], Any]] = []
    for loc, items in by_loc.items():
        batch: list[tuple[int, _Item]] = []
        size = 0
        for entry in items:
            est = 200 + sum(len(e) + 40 for _, e, _ in entry[1].wanted) * 4
            if batch and (len(batch) >= OBSERVE_MAX_TABLES or size + est > OBSERVE_MAX_SQL):
                jobs.append(_batch_job(query, project, loc, batch, default_placeholders, out))
                batch, size = [], 0
            batch.append(entry)
            size += est
        if batch:
            jobs.append(_batch_job(query, project, loc, batch, default_placeholders, out))
    for ref, loc, exp, cols in alone:
        jobs.append(lambda ref=ref, loc=loc, exp=exp, cols=cols: out.__setitem__(ref, measure(
            lambda sql, params: query(sql, params, loc), project, ref, exp, cols, default_placeholders)))
    (run_all or (lambda fns: [f() for f in fns]))(jobs)
    return out


def _batch_job(query, project: str, loc: str, batch: list[tuple[int, _Item]],
               default_placeholders: list[Any], out: dict[str, dict[str, Any]]) -> Callable[[], None]:
    batch = list(batch)

    def job() -> None:
        sql, params, aliases = _batch_sql(project, batch)
        try:
            rows = query(sql, params, loc)
        except Exception:  # noqa: BLE001 - measured again one by one: the error becomes that table's
            if len(batch) == 1:
                raise
            for entry in batch:
                _batch_job(query, project, loc, [entry], default_placeholders, out)()
            return
        by_index = {int(r["_t"]): r for r in rows}
        for i, item in batch:
            row = by_index.get(i, {})
            obs = dict(item.known)
            for alias, metric in aliases[i]:
                obs[metric] = jsonable(row.get(alias))
            out[item.ref] = dict(sorted(obs.items()))
    return job


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
