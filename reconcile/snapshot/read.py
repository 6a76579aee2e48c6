"""Reading the live state: `read_snapshot` fills a `Snapshot` (reconcile.snapshot.model) through
the BigQuery adapter in a number of requests that grows with datasets and
regions, never with tables: one dataset list, then per batch of datasets one
UNION ALL query each over TABLES, PARTITIONS (row counts), VIEWS where the spec
declares views and, only where the spec declares a schema, COLUMNS; one read each of
the ops records; then the tables that have expectations and the load targets, observed
in one UNION ALL query per location and 1,000 tables (built by reconcile.snapshot.observe
and .loadchecks). Independent queries run concurrently (bounded), in at most two rounds
after the dataset list (reconcile.snapshot.rounds).

It only reads (SELECTs and metadata lists; never a write or a DDL statement), and
only through the adapter it is given: it builds no client.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import logging
import time
from typing import TYPE_CHECKING, Any, Callable

from reconcile import identifiers as ids
from reconcile.bq.sqltext import qdataset, render_sql
from reconcile.snapshot.model import (
    KEY_RANGES_TABLE, LEDGER_TABLE, TMP_PREFIX, TEMP_TABLES_TABLE, ColumnState, DatasetState, Snapshot, TableState,
)
from reconcile.snapshot import routines
from reconcile.snapshot.observe import observe_many, strip_comments
from reconcile.snapshot.loadchecks import split
from reconcile.snapshot.ops import checkpoints_from, ledger_from, ledger_query, ledger_rows, ops_queries, own_temp_tables
from reconcile.snapshot.readahead import Ahead, Seen, expectations_of, observation_inputs
from reconcile.snapshot.rounds import (
    READ_PARALLELISM, Round, chunks as _chunks, partition_batches, speculative, table_missing,
    too_many_tables, union as _union,
)
from reconcile.spec.model import canonical_type

if TYPE_CHECKING:
    from reconcile.bq.adapter import Adapter
    from reconcile.spec.model import DesiredState

log = logging.getLogger(__name__)


# =========================================================================== reading
#
# read_snapshot sends (every query runs in the location of its datasets; on BigQuery an
# INFORMATION_SCHEMA query cannot span regions):
#
#   1  list_datasets (all regions; one request per 1,000 datasets)
#   round A, per location, per chunk of at most CHUNK_DATASETS datasets, one UNION ALL query over
#      TABLES      every dataset
#      PARTITIONS  every dataset (speculative: see below)
#      COLUMNS     datasets whose tables the spec declares or sets expectations on
#                  (other than a bare min_rows, a COUNT(*) whatever the columns)
#      VIEWS       datasets where the spec declares views (every dataset without a spec or
#                  with references), whether or not they hold a view: an empty answer is fine
#      ROUTINES    with references, in the VIEWS query (one query of both per chunk of
#                  datasets: sql/snapshot/views_routines.sql; reconcile.snapshot.routines)
#   and, if the ops dataset exists, 1 each: the load ledger with its key ranges (one UNION
#      ALL: sql/snapshot/ledger_ranges.sql), relocation checkpoints. Sent before TABLES says
#      which ops tables exist: a query whose table does not exist (404 "Not found: Table")
#      reads as no rows, as an absent table did before (without the key ranges table, the
#      ledger is read alone in round B: there are no key ranges to observe).
#      And the objects beside tables (routines, models: a few API lists) of each dataset a
#      relocation would move (Adapter.dataset_objects).
#      And, given what an earlier read of this warehouse found (`ahead`), the observation
#      queries it implies, if they fit within `parallelism` (reconcile.snapshot.readahead).
#   round B
#      unless the same query (text, parameters, location) was read ahead,
#      per location, per at most 1,000 existing tables with expectations or loads, one UNION
#      ALL of their scans (all a table's metrics in one branch: reconcile.snapshot.observe;
#      a load target's keys and the ledger's key ranges: reconcile.snapshot.loadchecks);
#      PARTITIONS again, batched by TABLES' counts, for a chunk whose round-A query BigQuery
#      refused for reading more than PARTITIONS_MAX_TABLES tables, or whose TABLES shows more
#      than that (its answer is not trusted: BigQuery documents the limit, not what a query
#      over it may return; https://cloud.google.com/bigquery/docs/information-schema-partitions);
#      temporary tables the tool made, only if TABLES shows a table under a temporary-table
#      name and <ops>.temp_tables exists (what they say is about those tables only).
#
# Each round's queries run concurrently (at most `parallelism` at once). Round B needs round
# A (TABLES' types, COLUMNS' columns, the ledger's key ranges), so under BigQuery's latency
# (about a second a query) the snapshot takes about one dataset list and two queries' time,
# whatever the number of queries. (COLUMNS of a dataset an expectation matches but the
# dataset match did not foresee would be read between the rounds; the match cannot miss
# one: see _may_match_dataset.)
#
# CHUNK_DATASETS bounds the size of one query's text (and BigQuery's limit of 1,000
# tables referenced per query); it is not a cost knob: on BigQuery each query bills at
# least 10 MB whatever it reads, so fewer, larger queries are cheaper.
# A result larger than one page (about 10 MB on BigQuery) is fetched in more pages,
# each an HTTP request the counter sees.

CHUNK_DATASETS = 100
PARTITIONS_MAX_TABLES = 1000

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
    dtype = (data_type or "").strip()
    if dtype.upper().startswith("ARRAY<") and dtype.endswith(">"):
        return ColumnState(name=name, type=canonical_type(dtype[6:-1]), mode="REPEATED")
    mode = "REQUIRED" if (is_nullable or "").upper() == "NO" else "NULLABLE"
    return ColumnState(name=name, type=canonical_type(dtype), mode=mode)


def needs_columns(exp: Any) -> bool:
    """Whether observing these expectations needs the table's columns (their names and
    types): all but a bare `min_rows`, which is a COUNT(*) whatever the columns."""
    return bool(exp.min_columns is not None or exp.min_distinct or exp.ranges or exp.placeholders
                or exp.coverage)


def _may_match_dataset(pattern: str, dataset: str) -> bool:
    """Whether an expectation pattern (fnmatch over 'dataset.table') can match a table of
    `dataset`. A table name holds no '.', so a pattern's first literal '.' stands for the
    one between dataset and table: the part before it must match the dataset. Patterns
    with a bracket or without a '.' are taken to match (the caller reads a little more)."""
    if "[" in pattern or "." not in pattern:
        return True
    return fnmatch.fnmatchcase(dataset, pattern.split(".", 1)[0])


def _partition_batches(stored: dict[str, list[str]]) -> list[tuple[list[str], list[str] | None]]:
    """PARTITIONS queries for these datasets (name -> their stored tables), at most
    CHUNK_DATASETS datasets and PARTITIONS_MAX_TABLES tables each (rounds.partition_batches)."""
    return partition_batches(stored, PARTITIONS_MAX_TABLES, CHUNK_DATASETS)


def read_snapshot(adapter: Adapter, desired: DesiredState | None, *, target: str = "local",
                  now: dt.datetime | None = None, parallelism: int = READ_PARALLELISM,
                  references: bool | None = None, ahead: Seen | None = None) -> Snapshot:
    """Read the live state of the adapter's project in few requests (see the plan above).

    `desired` (a spec.DesiredState) narrows what is read: COLUMNS only for datasets whose
    tables it declares or sets expectations on, VIEWS only where it declares views, and
    the tables with expectations observed in batched queries. With `desired=None`
    every dataset's COLUMNS and VIEWS are read and nothing is observed.

    The queries run in two rounds, those of one round concurrently (at most `parallelism`
    at once; 1 runs everything in sequence, with the same requests): TABLES, COLUMNS,
    PARTITIONS, VIEWS, ROUTINES and the ops records; then the observations (they need
    TABLES' types, COLUMNS' columns and the ledger's key ranges) and any PARTITIONS query
    redone with fewer tables.

    `references` (default: when the spec may delete a dataset) also reads, for the
    reference scan, every dataset's views and ROUTINES (reconcile.snapshot.routines).

    `ahead` (what an earlier read of this warehouse found: reconcile.snapshot.readahead)
    sends the observation queries it implies in the first round, where a slot is free
    within `parallelism`; an observation query equal to one of them takes its answer."""
    from reconcile.bq.adapter import array_param, param

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

    def query_job(sql: str, loc: str, what: str, params: list[Any] | None = None) -> Callable[[], Any]:
        return lambda: run(sql, loc, what, params)

    # Round A: what the datasets alone decide. COLUMNS for the datasets the spec needs
    # columns of (those it declares tables in or sets expectations on; a dataset that turns
    # out to hold no table is dropped from the result below); expectations are matched
    # against the datasets now, against the tables once TABLES is in.
    if desired is None:
        want_columns = set(datasets)
    else:
        want_columns = {ref.split(".", 1)[0] for ref in desired.tables}
        want_columns |= {ds for ds in datasets
                         if any(_may_match_dataset(p, ds) for p, e in desired.expectations.items()
                                if needs_columns(e))}
        want_columns |= {ref.split(".", 1)[0] for ref, t in desired.tables.items()
                         if t.expect is not None and needs_columns(t.expect)}
    want_views = set(datasets) if desired is None else {ref.split(".", 1)[0] for ref in desired.views}
    if references is None:
        references = desired is not None and routines.wanted(desired)
    if references:  # what reads a legacy dataset may be any view (issue 17)
        want_views = set(datasets)
    round_a = Round()
    table_jobs, column_jobs, view_jobs = [], [], []
    part_jobs: list[tuple[int, str, list[str]]] = []  # (job, location, datasets); answer None: refused
    for loc, names in by_location.items():
        for chunk in _chunks(names, CHUNK_DATASETS):
            table_jobs.append(round_a.add(query_job(_union("snapshot/tables.sql", project, chunk), loc,
                                                    f"snapshot TABLES ({loc}, {len(chunk)} datasets)")))
            part_jobs.append((round_a.add(speculative(
                query_job(_union("snapshot/partitions.sql", project, chunk), loc,
                          f"snapshot PARTITIONS ({loc}, {len(chunk)} datasets)"),
                too_many_tables, None)), loc, chunk))
        for chunk in _chunks([ds for ds in names if ds in want_columns], CHUNK_DATASETS):
            column_jobs.append(round_a.add(query_job(_union("snapshot/columns.sql", project, chunk), loc,
                                                     f"snapshot COLUMNS ({loc}, {len(chunk)} datasets)")))
        # with references, every dataset's views and routines in one query per chunk
        template = "snapshot/views_routines.sql" if references else "snapshot/views.sql"
        for chunk in _chunks([ds for ds in names if ds in want_views], CHUNK_DATASETS):
            view_jobs.append(round_a.add(query_job(_union(template, project, chunk), loc,
                                                   f"snapshot {'VIEWS, ROUTINES' if references else 'VIEWS'} "
                                                   f"({loc}, {len(chunk)} datasets)")))

    # the tool's records in ops: load ledger (and key ranges), relocation checkpoints
    ops = desired.ops_dataset if desired is not None else "ops"
    ops_jobs: dict[str, int] = {}
    if ops in datasets:
        # the ledger and its key ranges in one query; None: the key ranges table is missing
        # (an ops made by migrations or transforms only): the ledger is then read alone
        sql, what = ledger_query(project, ops)
        ops_jobs["ledger"] = round_a.add(speculative(speculative(
            query_job(sql, datasets[ops].location, what), lambda e: table_missing(e, ops, LEDGER_TABLE), []),
            lambda e: table_missing(e, ops, KEY_RANGES_TABLE), None))
        for name, table, sql, what in ops_queries(project, ops, ("checkpoints",)):
            ops_jobs[name] = round_a.add(speculative(query_job(sql, datasets[ops].location, what),
                                                     lambda e, t=table: table_missing(e, ops, t), []))
    # objects beside tables (routines, models, ...) of datasets a relocation would move:
    # what it must carry or refuse (reconcile.plan.compare.datasets). Few datasets, if any;
    # a few API lists each, alongside the queries.
    object_jobs: dict[str, int] = {}
    if desired is not None:
        for name in sorted(datasets):
            if name in desired.datasets and not ids.same_location(datasets[name].location,
                                                                   desired.location_of(name)):
                object_jobs[name] = round_a.add(lambda name=name: adapter.dataset_objects(name))
    # the observations an earlier read of this warehouse implies, if a slot is free
    early = None
    if ahead is not None and desired is not None and parallelism > 1 and ahead.project == project:
        early = Ahead(lambda sql, params, loc: run(sql, loc, f"snapshot observations, read ahead ({loc})", params))
        guess = observation_inputs(desired, ahead.locations, ahead.types, ahead.cols_of, ahead.ledger, param)
        sent: list[Callable[[], Any]] = []
        if guess.tables:
            observe_many(early.send, project, guess.tables, list(desired.placeholder_values),
                         run_all=lambda fns: sent.extend(fns) or [], extra=guess.extra)
        if len(round_a.calls) + len(sent) <= parallelism:
            round_a.calls.extend(sent)
    results_a = round_a.run(parallelism)
    for name, i in object_jobs.items():
        datasets[name] = datasets[name].model_copy(update={"objects": results_a[i]})

    # tables (all datasets)
    types: dict[str, str] = {}
    created: dict[str, int | None] = {}  # creation times of tables under a temporary-table name
    for i in table_jobs:
        for r in results_a[i]:
            ref = f"{r['dataset_name']}.{r['table_name']}"
            types[ref] = table_type(r["table_type"], r.get("base_table_name"), r.get("snapshot_time_ms"))
            if r["table_name"].startswith(TMP_PREFIX):
                created[ref] = None if r.get("created_ms") is None else int(r["created_ms"])
    in_dataset: dict[str, list[str]] = {}
    for ref in sorted(types):
        in_dataset.setdefault(ref.split(".", 1)[0], []).append(ref.split(".", 1)[1])

    # expectations per existing table (pure: no request)
    expectations = expectations_of(desired, types) if desired is not None else {}

    # columns, where the spec needs them
    columns_of: dict[str, list[tuple[int, ColumnState]]] = {}

    def add_columns(rows: list[dict[str, Any]]) -> None:
        for r in rows:
            columns_of.setdefault(f"{r['dataset_name']}.{r['table_name']}", []).append(
                (int(r["ordinal_position"] or 0),
                 column_state(r["column_name"], r["data_type"], r.get("is_nullable"))))

    for i in column_jobs:
        add_columns(results_a[i])
    columns_read = {ds for ds in want_columns if ds in datasets and in_dataset.get(ds)}
    missed = {ref.split(".", 1)[0] for ref, e in expectations.items() if needs_columns(e)} - want_columns
    if missed:  # an expectation the dataset match did not foresee (it cannot): read them now
        for loc, names in by_location.items():
            for chunk in _chunks([ds for ds in names if ds in missed], CHUNK_DATASETS):
                add_columns(run(_union("snapshot/columns.sql", project, chunk), loc,
                                f"snapshot COLUMNS ({loc}, {len(chunk)} datasets)"))
        columns_read |= {ds for ds in missed if in_dataset.get(ds)}

    def cols_of(ref: str) -> list[ColumnState] | None:
        if ref.split(".", 1)[0] not in columns_read:
            return None
        return [c for _, c in sorted(columns_of.get(ref, []), key=lambda p: p[0])]

    def ops_rows(results: list[Any], jobs: dict[str, int], name: str) -> list[dict[str, Any]]:
        return results[jobs[name]] if name in jobs else []

    ledger_answer = results_a[ops_jobs["ledger"]] if "ledger" in ops_jobs else []
    ledger = ledger_from(*ledger_rows(ledger_answer or []))  # no key ranges table: no ranges to observe
    checkpoints = checkpoints_from(ops_rows(results_a, ops_jobs, "checkpoints"))

    # Round B: PARTITIONS of the chunks round A could not read whole, the temporary-table
    # records, the observations.
    round_b = Round()
    rows_of: dict[str, int] = {}

    def add_rows(rows: list[dict[str, Any]]) -> None:
        for r in rows:
            rows_of[f"{r['dataset_name']}.{r['table_name']}"] = int(r["row_count"] or 0)

    part_b: list[int] = []
    for i, loc, chunk in part_jobs:
        if results_a[i] is not None and sum(len(in_dataset.get(ds, [])) for ds in chunk) <= PARTITIONS_MAX_TABLES:
            add_rows(results_a[i])
            continue
        stored = {ds: [t for t in in_dataset.get(ds, []) if types[f"{ds}.{t}"] in _STORED] for ds in chunk}
        for batch, table_names in _partition_batches(stored):
            if table_names is None:
                sql, params = _union("snapshot/partitions.sql", project, batch), []
            else:
                sql = strip_comments(render_sql("snapshot/partitions_named.sql",
                                                 dataset=qdataset(project, batch[0])))
                params = [array_param("table_names", "STRING", table_names)]
            part_b.append(round_b.add(query_job(sql, loc, f"snapshot PARTITIONS ({loc}, {len(batch)} datasets)",
                                                params)))

    ops_b: dict[str, int] = {}
    if ledger_answer is None:  # the key ranges table is missing: the ledger alone
        for name, table, sql, what in ops_queries(project, ops, ("ledger",)):
            ops_b[name] = round_b.add(speculative(query_job(sql, datasets[ops].location, what),
                                                      lambda e, t=table: table_missing(e, ops, t), []))
    if created and f"{ops}.{TEMP_TABLES_TABLE}" in types:
        for name, _, sql, what in ops_queries(project, ops, ("temp_tables",)):
            ops_b[name] = round_b.add(query_job(sql, datasets[ops].location, what))

    # expectation observations and load checks: one UNION ALL per location (and 1,000 tables)
    # (a query equal to one read ahead takes its answer)
    observed: dict[str, dict[str, Any]] = {}
    load_targets: set[str] = set()
    if desired is not None:
        inputs = observation_inputs(desired, {ds: st.location for ds, st in datasets.items()}, types, cols_of,
                                    ledger, param, expectations)
        load_targets = inputs.load_targets

        def observe_query(sql: str, params: list[Any], loc: str) -> list[dict[str, Any]]:
            rows = early.answer(sql, params, loc) if early is not None else None
            return rows if rows is not None else run(sql, loc, f"snapshot observations ({loc})", params)

        if inputs.tables:
            observe_many(observe_query, project, inputs.tables, list(desired.placeholder_values),
                         run_all=lambda fns: round_b.calls.extend(fns) or [], out=observed, extra=inputs.extra)
    results_b = round_b.run(parallelism)
    if ledger_answer is None:
        ledger = ledger_from(ops_rows(results_b, ops_b, "ledger"))

    for i in part_b:
        add_rows(results_b[i])
    # view definitions of the datasets TABLES shows a view in (those read before round A was)
    holds_view = {ref.split(".", 1)[0] for ref, typ in types.items() if typ == "VIEW"}
    view_sql: dict[str, str] = {}
    for i in view_jobs:
        for r in results_a[i]:
            if r.get("table_name") is not None and r["dataset_name"] in holds_view:
                view_sql[f"{r['dataset_name']}.{r['table_name']}"] = r["view_definition"]

    found_routines = routines.collect(adapter, [[r for r in results_a[i] if r.get("routine_name") is not None]
                                                for i in view_jobs]) if references else None
    tables: dict[str, TableState] = {}
    for ref, typ in sorted(types.items()):
        rows = rows_of.get(ref)
        if rows is None and typ in _ZERO_IF_ABSENT:
            rows = 0
        tables[ref] = TableState(type=typ, rows=rows, columns=cols_of(ref), view_sql=view_sql.get(ref))

    own_temp = own_temp_tables(ops_rows(results_b, ops_b, "temp_tables"), created)
    observations, load_checks = split(observed, set(expectations), load_targets)
    observations = dict(sorted(observations.items()))

    requests = adapter.requests.count - first_request
    log.info("read %d datasets, %d tables in %d requests (%.1fs)", len(datasets), len(tables),
             requests, time.monotonic() - started)
    return Snapshot(
        project=project, taken_at=taken.isoformat(), target=target, datasets=datasets,
        tables=tables, ledger=ledger, observations=observations, checkpoints=checkpoints,
        routines=found_routines, own_temp_tables=own_temp, load_checks=dict(sorted(load_checks.items())),
        requests=requests,
    )


def read_remembering(adapter: Adapter, desired: DesiredState, *, target: str = "local",
                     parallelism: int = READ_PARALLELISM, references: bool | None = None) -> Snapshot:
    """`read_snapshot`, reading ahead from the project's record of its last read of this
    target (reconcile.snapshot.readahead), then leaving the record of this one."""
    from reconcile.snapshot import readahead

    path = readahead.record_path(desired.root, target)
    snap = read_snapshot(adapter, desired, target=target, parallelism=parallelism, references=references,
                         ahead=readahead.load(path, adapter.project))
    readahead.save(path, readahead.seen_in(snap, desired))
    return snap
