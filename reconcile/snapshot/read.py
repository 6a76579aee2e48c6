"""Reading the live state: `read_snapshot` fills a `Snapshot` (reconcile.snapshot.model) through
the BigQuery adapter in a number of requests that grows with datasets and
regions, never with tables: one dataset list, then per batch of datasets one
UNION ALL query each over TABLES, PARTITIONS (row counts) and, only where the
spec declares a schema, COLUMNS; then one query per table that has
expectations, and one read of the load ledger.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import json
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from reconcile import identifiers as ids
from reconcile.snapshot.model import SNAPSHOT_VERSION, ColumnState, DatasetState, LedgerEntry, Snapshot, TableState
from reconcile.bq.sqltext import QuotedIdent, qdataset, qtable, render_sql

if TYPE_CHECKING:
    from reconcile.bq.adapter import Adapter
    from reconcile.spec.model import DesiredState, Expectations

log = logging.getLogger(__name__)


# =========================================================================== reading
#
# read_snapshot sends, in order (every query runs in the location of its datasets;
# on BigQuery an INFORMATION_SCHEMA query cannot span regions):
#
#   1  list_datasets (all regions; one request per 1,000 datasets)
#   per location, per chunk of at most CHUNK_DATASETS datasets, one UNION ALL query over
#      TABLES      every dataset
#      PARTITIONS  datasets holding tables with storage, also bounded to
#                  PARTITIONS_MAX_TABLES tables per query (BigQuery refuses more)
#      COLUMNS     datasets whose tables the spec declares or sets expectations on
#      VIEWS       datasets where the spec declares views (and that hold a view)
#   1  load ledger, if <ops>.load_ledger exists
#   1  relocation checkpoints, if <ops>.relocation_checkpoints exists
#   1  per existing table with expectations (all its metrics in one scan)
#
# CHUNK_DATASETS bounds the size of one query's text (and BigQuery's limit of 1,000
# tables referenced per query); it is not a cost knob: on BigQuery each query bills at
# least 10 MB whatever it reads, so fewer, larger queries are cheaper.
# A result larger than one page (about 10 MB on BigQuery) is fetched in more pages,
# each an HTTP request the counter sees.

CHUNK_DATASETS = 100
PARTITIONS_MAX_TABLES = 1000
LEDGER_TABLE = "load_ledger"
CHECKPOINTS_TABLE = "relocation_checkpoints"

_TABLE_TYPES = {
    "BASE TABLE": "TABLE",
    "TABLE": "TABLE",
    "VIEW": "VIEW",
    "SNAPSHOT": "SNAPSHOT",
    "CLONE": "CLONE",
    "EXTERNAL": "EXTERNAL",
    "MATERIALIZED VIEW": "MATERIALIZED VIEW",
}
# Types that hold storage, hence rows in PARTITIONS.
_STORED = frozenset({"TABLE", "CLONE", "SNAPSHOT", "MATERIALIZED VIEW"})
# Types an empty table has: no PARTITIONS row means 0 rows.
_ZERO_IF_ABSENT = frozenset({"TABLE", "CLONE"})
# Types whose data expectations are observed.
_OBSERVED = frozenset({"TABLE", "CLONE"})
# Column types no aggregate below accepts (MIN/MAX/COUNT DISTINCT/CAST AS STRING).
_OPAQUE_TYPES = ("STRUCT", "RECORD", "JSON", "GEOGRAPHY", "ARRAY")


def table_type(info_schema_type: str | None, base_table_name: str | None = None,
               snapshot_time_ms: int | None = None) -> str:
    """Map INFORMATION_SCHEMA.TABLES.table_type to TableState.type.

    BigQuery reports clones as CLONE; the emulator reports them as BASE TABLE with
    base_table_name set (a column BigQuery fills only for clones and snapshots), so a
    BASE TABLE with a base table and no snapshot time is a clone on both."""
    t = _TABLE_TYPES.get((info_schema_type or "").upper(), "OTHER")
    if t == "TABLE" and base_table_name and snapshot_time_ms is None:
        return "CLONE"
    return t


def column_state(name: str, data_type: str, is_nullable: str | None) -> ColumnState:
    """A COLUMNS row as the API's schema would say it: ARRAY<T> is T REPEATED."""
    from reconcile.spec.model import canonical_type

    dtype = (data_type or "").strip()
    if dtype.upper().startswith("ARRAY<") and dtype.endswith(">"):
        return ColumnState(name=name, type=canonical_type(dtype[6:-1]), mode="REPEATED")
    mode = "REQUIRED" if (is_nullable or "").upper() == "NO" else "NULLABLE"
    return ColumnState(name=name, type=canonical_type(dtype), mode=mode)


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


def jsonable(value: Any) -> Any:
    """A query result value as JSON-friendly data: dates as ISO strings, numbers as int/float."""
    import base64
    import decimal

    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, decimal.Decimal):
        if value.is_finite() and value == value.to_integral_value():
            return int(value)
        return float(value)
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    return str(value)


def _chunks(items: list[str], size: int) -> list[list[str]]:
    return [items[i:i + size] for i in range(0, len(items), size)]


def _strip_comments(sql: str) -> str:
    return "\n".join(line for line in sql.splitlines() if not line.lstrip().startswith("--")).strip()


def _union(template: str, project: str, datasets: list[str]) -> str:
    """One query: the per-dataset template rendered for each dataset, UNION ALL'ed."""
    parts = [_strip_comments(render_sql(template, dataset=qdataset(project, d))) for d in datasets]
    return "\nUNION ALL\n".join(f"({p})" for p in parts)


def _partition_batches(stored: dict[str, list[str]]) -> list[tuple[list[str], list[str] | None]]:
    """Group datasets (name -> their stored tables) into PARTITIONS queries.

    Each query covers at most CHUNK_DATASETS datasets and PARTITIONS_MAX_TABLES tables.
    A dataset with more tables than that gets queries of its own, each naming its
    tables: (datasets, None) reads whole datasets, ([ds], names) reads some tables."""
    batches: list[tuple[list[str], list[str] | None]] = []
    cur: list[str] = []
    n = 0
    for ds in sorted(stored):
        k = len(stored[ds])
        if k == 0:
            continue
        if k > PARTITIONS_MAX_TABLES:
            for names in _chunks(sorted(stored[ds]), PARTITIONS_MAX_TABLES):
                batches.append(([ds], names))
            continue
        if cur and (len(cur) >= CHUNK_DATASETS or n + k > PARTITIONS_MAX_TABLES):
            batches.append((cur, None))
            cur, n = [], 0
        cur.append(ds)
        n += k
    if cur:
        batches.append((cur, None))
    return batches


def _observation_query(project: str, ref: str, exp: Expectations,
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
    return _strip_comments(sql), params, aliases, known


def read_snapshot(adapter: Adapter, desired: DesiredState | None, *, target: str = "local",
                  now: dt.datetime | None = None) -> Snapshot:
    """Read the live state of the adapter's project in few requests (see the plan above).

    `desired` (a spec.DesiredState) narrows what is read: COLUMNS only for datasets whose
    tables it declares or sets expectations on, VIEWS only where it declares views, and
    one observation query per existing table with expectations. With `desired=None`
    every dataset's COLUMNS and VIEWS are read and nothing is observed."""
    from reconcile.bq.adapter import array_param

    started = time.monotonic()
    taken = now or dt.datetime.now(dt.timezone.utc)
    if taken.tzinfo is None:
        taken = taken.replace(tzinfo=dt.timezone.utc)
    first_request = adapter.requests.count
    project = adapter.project

    # 1. datasets and their locations
    datasets = {name: DatasetState(location=ids.normalize_location(loc))
                for name, loc in adapter.list_datasets()}
    by_location: dict[str, list[str]] = {}
    for name, st in sorted(datasets.items()):
        by_location.setdefault(st.location, []).append(name)

    def run(sql: str, location: str, what: str, params: list[Any] | None = None) -> list[dict[str, Any]]:
        t0 = time.monotonic()
        rows = adapter.query(sql, params or (), location=location, what=what)
        log.debug("%s: %d rows in %.2fs", what, len(rows), time.monotonic() - t0)
        return rows

    # 2. tables (all datasets)
    types: dict[str, str] = {}
    for loc, names in by_location.items():
        for chunk in _chunks(names, CHUNK_DATASETS):
            for r in run(_union("snapshot/tables.sql", project, chunk), loc,
                         f"snapshot TABLES ({loc}, {len(chunk)} datasets)"):
                ref = f"{r['dataset_name']}.{r['table_name']}"
                types[ref] = table_type(r["table_type"], r.get("base_table_name"),
                                        r.get("snapshot_time_ms"))
    in_dataset: dict[str, list[str]] = {}
    for ref in sorted(types):
        in_dataset.setdefault(ref.split(".", 1)[0], []).append(ref.split(".", 1)[1])

    # 3. row counts from PARTITIONS (tables with storage only)
    rows_of: dict[str, int] = {}
    for loc, names in by_location.items():
        stored = {ds: [t for t in in_dataset.get(ds, []) if types[f"{ds}.{t}"] in _STORED]
                  for ds in names}
        for chunk, table_names in _partition_batches(stored):
            if table_names is None:
                sql, params = _union("snapshot/partitions.sql", project, chunk), []
            else:
                sql = _strip_comments(render_sql("snapshot/partitions_named.sql",
                                                 dataset=qdataset(project, chunk[0])))
                params = [array_param("table_names", "STRING", table_names)]
            for r in run(sql, loc, f"snapshot PARTITIONS ({loc}, {len(chunk)} datasets)", params):
                rows_of[f"{r['dataset_name']}.{r['table_name']}"] = int(r["row_count"] or 0)

    # expectations per existing table (pure: no request)
    expectations: dict[str, Any] = {}
    if desired is not None:
        for ref, typ in types.items():
            if typ in _OBSERVED:
                try:
                    ids.split_table_ref(ref)  # BigQuery allows names this tool cannot quote
                except ids.IdentifierError as e:
                    log.warning("not observing %s: %s", ref, e)
                    continue
                exp = desired.expectations_for(ref)
                if exp is not None and not exp.is_empty():
                    expectations[ref] = exp

    # 4. columns, where the spec needs them
    if desired is None:
        want_columns = set(datasets)
    else:
        want_columns = {ref.split(".", 1)[0] for ref in desired.tables}
        want_columns |= {ref.split(".", 1)[0] for ref in expectations}
    columns_of: dict[str, list[tuple[int, ColumnState]]] = {}
    for loc, names in by_location.items():
        read = [ds for ds in names if ds in want_columns and in_dataset.get(ds)]
        for chunk in _chunks(read, CHUNK_DATASETS):
            for r in run(_union("snapshot/columns.sql", project, chunk), loc,
                         f"snapshot COLUMNS ({loc}, {len(chunk)} datasets)"):
                ref = f"{r['dataset_name']}.{r['table_name']}"
                columns_of.setdefault(ref, []).append(
                    (int(r["ordinal_position"] or 0),
                     column_state(r["column_name"], r["data_type"], r.get("is_nullable"))))
    columns_read = {ds for loc, names in by_location.items() for ds in names
                    if ds in want_columns and in_dataset.get(ds)}

    # 5. view definitions, where the spec declares views
    want_views = set(datasets) if desired is None else {ref.split(".", 1)[0] for ref in desired.views}
    view_sql: dict[str, str] = {}
    for loc, names in by_location.items():
        read = [ds for ds in names if ds in want_views
                and any(types[f"{ds}.{t}"] == "VIEW" for t in in_dataset.get(ds, []))]
        for chunk in _chunks(read, CHUNK_DATASETS):
            for r in run(_union("snapshot/views.sql", project, chunk), loc,
                         f"snapshot VIEWS ({loc}, {len(chunk)} datasets)"):
                view_sql[f"{r['dataset_name']}.{r['table_name']}"] = r["view_definition"]

    tables: dict[str, TableState] = {}
    for ref, typ in sorted(types.items()):
        ds = ref.split(".", 1)[0]
        rows = rows_of.get(ref)
        if rows is None and typ in _ZERO_IF_ABSENT:
            rows = 0
        cols = None
        if ds in columns_read:
            cols = [c for _, c in sorted(columns_of.get(ref, []), key=lambda p: p[0])]
        tables[ref] = TableState(type=typ, rows=rows, columns=cols, view_sql=view_sql.get(ref))

    # 6. load ledger and relocation checkpoints in the ops dataset
    ops = desired.ops_dataset if desired is not None else "ops"
    ledger: list[LedgerEntry] = []
    checkpoints: dict[str, str] = {}
    if ops in datasets:
        loc = datasets[ops].location
        if f"{ops}.{LEDGER_TABLE}" in tables:
            for r in run(_strip_comments(render_sql("snapshot/ledger.sql",
                                                    table=qtable(project, ops, LEDGER_TABLE))),
                         loc, "snapshot load ledger"):
                ledger.append(LedgerEntry(
                    table=r["table_ref"] or "", source=r["source"] or "",
                    content_hash=r["content_hash"] or "", rows=int(r["rows"] or 0),
                    loaded_at=jsonable(r["loaded_at"]), run_id=r["run_id"]))
        if f"{ops}.{CHECKPOINTS_TABLE}" in tables:
            for r in run(_strip_comments(render_sql("snapshot/checkpoints.sql",
                                                    table=qtable(project, ops, CHECKPOINTS_TABLE))),
                         loc, "snapshot relocation checkpoints"):
                if r["dataset"] is not None and r["step"] is not None:
                    checkpoints[r["dataset"]] = r["step"]

    # 7. expectation observations: one scan per table that has expectations
    observations: dict[str, dict[str, Any]] = {}
    for ref, exp in sorted(expectations.items()):
        cols = tables[ref].columns
        sql, params, aliases, known = _observation_query(
            project, ref, exp, cols, list(desired.placeholder_values))
        obs = dict(known)
        if sql is not None:
            result = run(sql, datasets[ref.split(".", 1)[0]].location, f"observe {ref}", params)
            row = result[0] if result else {}
            for alias, metric in aliases:
                obs[metric] = jsonable(row.get(alias))
        observations[ref] = dict(sorted(obs.items()))

    requests = adapter.requests.count - first_request
    log.info("read %d datasets, %d tables in %d requests (%.1fs)", len(datasets), len(tables),
             requests, time.monotonic() - started)
    return Snapshot(
        project=project, taken_at=taken.isoformat(), target=target, datasets=datasets,
        tables=tables, ledger=ledger, observations=observations, checkpoints=checkpoints,
        requests=requests,
    )


def observe_table(adapter: Adapter, desired: DesiredState, ref: str, exp: Expectations,
                  location: str | None = None) -> dict[str, Any]:
    """Measure one table's expectation metrics now (the executor's Validate gate).

    The same metrics and query as the snapshot's step 7, for one table: its columns
    come from one tables.get, then one scan. Returns {} if the table does not exist."""
    from reconcile.spec.model import canonical_type

    schema = adapter.get_schema(ref)
    if schema is None:
        return {}
    cols = [ColumnState(name=f.name, type=canonical_type(f.field_type),
                        mode=f.mode or "NULLABLE") for f in schema]
    sql, params, aliases, known = _observation_query(
        adapter.project, ref, exp, cols, list(desired.placeholder_values))
    obs = dict(known)
    if sql is not None:
        result = adapter.query(sql, params, location=location, what=f"observe {ref}")
        row = result[0] if result else {}
        for alias, metric in aliases:
            obs[metric] = jsonable(row.get(alias))
    return dict(sorted(obs.items()))
