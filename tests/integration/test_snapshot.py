"""read_snapshot against the local BigQuery: what it reads, and how many requests it takes.

Each test builds a small warehouse through the adapter (datasets in two regions,
tables, a view, a snapshot, rows inserted with INSERT), reads it back and checks the
snapshot; the request count is checked against the formula in reconcile/snapshot/read.py.
"""

from __future__ import annotations

import datetime as dt
import textwrap
from pathlib import Path

import pytest

from reconcile.snapshot import read as snap
from reconcile.bq.adapter import Adapter
from reconcile.snapshot.model import Snapshot
from reconcile.snapshot.observe import placeholder_strings
from reconcile.snapshot.read import PARTITIONS_MAX_TABLES, _partition_batches, read_snapshot
from reconcile.spec.load import load_spec
from reconcile.spec.model import DesiredState
from reconcile.bq.sqltext import qtable, render_sql

pytestmark = pytest.mark.integration

PRICES = [("date", "DATE", "NULLABLE"), ("symbol", "STRING", "NULLABLE"),
          ("close", "FLOAT64", "NULLABLE"), ("regime", "STRING", "NULLABLE")]
NOW = dt.datetime(2025, 11, 19, 12, 0, tzinfo=dt.timezone.utc)


def q(adapter: Adapter, ref: str) -> str:
    return adapter.q(ref)


def write_spec(root: Path, p: str) -> DesiredState:
    (root / "sql").mkdir(exist_ok=True)
    (root / "sql" / "latest.sql").write_text("SELECT 1 AS x\n")
    spec = root / "desired_state" / "spec.yaml"
    spec.parent.mkdir(exist_ok=True)
    spec.write_text(textwrap.dedent(f"""\
        version: 1
        project: cbi-v14
        default_location: us-central1
        ops_dataset: {p}ops
        datasets:
          {p}market: {{location: us-central1}}
          {p}ops: {{location: us-central1}}
          {p}eu: {{location: EU}}
        tables:
          {p}market.prices:
            columns:
              - {{name: date, type: DATE}}
              - {{name: symbol, type: STRING}}
              - {{name: close, type: FLOAT64}}
              - {{name: regime, type: STRING}}
            expect:
              min_rows: 3
              min_distinct: {{symbol: 2}}
              ranges: {{close: {{min: 0, max: 1000}}}}
              placeholders: {{regime: [allhistory], close: [1]}}
              coverage: {{column: date, from: 2000-01-01, to: 2025-12-31}}
        views:
          {p}market.latest: {{sql: sql/latest.sql}}
        expectations:
          "{p}market.weights_*":
            min_columns: 2
            min_distinct: {{nope: 1}}
          "{p}market.no_such_*":
            min_rows: 1
        """))
    return load_spec(spec, root=root)


def build_warehouse(adapter: Adapter, p: str) -> None:
    """Two regions; a table with rows, an empty one, a view, a snapshot, ops tables."""
    adapter.create_dataset(f"{p}market", "us-central1")
    adapter.create_dataset(f"{p}ops", "us-central1")
    adapter.create_dataset(f"{p}eu", "EU")
    adapter.create_dataset(f"{p}legacy", "US")  # not in the spec
    adapter.create_table(f"{p}market.prices", PRICES)
    adapter.execute(
        f"INSERT INTO {q(adapter, f'{p}market.prices')} (date, symbol, close, regime) VALUES "
        "(DATE '2000-01-03', 'ZL', 15.5, 'crisis_2008'), "
        "(DATE '2010-06-01', 'ZL', 1.0, 'allhistory'), "
        "(DATE '2024-12-31', 'ZS', 980.25, 'trade_war'), "
        "(DATE '2024-12-31', 'ZC', 1.0, 'allhistory'), "
        "(NULL, 'ZL', NULL, NULL)", location="us-central1")
    adapter.create_table(f"{p}market.empty", PRICES)
    adapter.create_table(f"{p}market.weights_a", [("regime", "STRING", "NULLABLE"),
                                                  ("weight", "INT64", "NULLABLE")])
    adapter.execute(f"INSERT INTO {q(adapter, f'{p}market.weights_a')} (regime, weight) "
                    "VALUES ('a', 50), ('b', 1000)", location="us-central1")
    adapter.execute(f"CREATE OR REPLACE VIEW {q(adapter, f'{p}market.latest')} AS "
                    f"SELECT symbol, MAX(date) AS date FROM {q(adapter, f'{p}market.prices')} "
                    "GROUP BY symbol", location="us-central1")
    adapter.execute(f"CREATE SNAPSHOT TABLE {q(adapter, f'{p}market.prices_snap')} "
                    f"CLONE {q(adapter, f'{p}market.prices')}", location="us-central1")
    adapter.create_table(f"{p}eu.events", [("id", "INT64", "REQUIRED"), ("tags", "STRING", "REPEATED")])
    adapter.execute(f"INSERT INTO {q(adapter, f'{p}eu.events')} (id, tags) VALUES (1, ['a']), (2, [])",
                    location="EU")
    adapter.create_table(f"{p}legacy.old", [("id", "INT64", "NULLABLE")])
    # ops: ledger and relocation checkpoints, from the DDL the executor uses
    for name, file in (("load_ledger", "ops/load_ledger.sql"),
                       ("relocation_checkpoints", "ops/relocation_checkpoints.sql")):
        adapter.execute(render_sql(file, table=qtable(adapter.project, f"{p}ops", name)),
                        location="us-central1")
    t1 = dt.datetime(2025, 11, 18, 10, 0, tzinfo=dt.timezone.utc)
    adapter.insert_rows_dml(f"{p}ops.load_ledger", [
        {"table_ref": f"{p}market.prices", "source": "staging/yahoo.parquet", "content_hash": "abc123",
         "rows": 6380, "rows_inserted": 6380, "rows_updated": 0, "loaded_at": t1, "run_id": "run-1"},
        {"table_ref": f"{p}market.prices", "source": "staging/yahoo.parquet", "content_hash": "def456",
         "rows": 10, "rows_inserted": 2, "rows_updated": 8, "loaded_at": t1 + dt.timedelta(hours=1),
         "run_id": "run-2"},
    ], location="us-central1")
    adapter.insert_rows_dml(f"{p}ops.relocation_checkpoints", [
        {"dataset": f"{p}eu", "step": "copied_out", "at": t1, "run_id": "run-3"},
        {"dataset": f"{p}eu", "step": "verified_copy", "at": t1 + dt.timedelta(minutes=5), "run_id": "run-3"},
        {"dataset": f"{p}legacy", "step": "copied_out", "at": t1, "run_id": "run-4"},
    ], location="us-central1")


def test_snapshot_reads_the_warehouse(adapter: Adapter, ds_prefix: str, project_root: Path) -> None:
    p = ds_prefix
    desired = write_spec(project_root, p)
    build_warehouse(adapter, p)

    s = read_snapshot(adapter, desired, target="local", now=NOW)

    assert s.project == "cbi-v14" and s.target == "local" and s.taken_at == NOW.isoformat()
    assert {k: v.location for k, v in s.datasets.items()} == {
        f"{p}market": "us-central1", f"{p}ops": "us-central1", f"{p}eu": "EU", f"{p}legacy": "US"}
    assert {k: v.type for k, v in s.tables.items()} == {
        f"{p}market.prices": "TABLE", f"{p}market.empty": "TABLE", f"{p}market.weights_a": "TABLE",
        f"{p}market.latest": "VIEW", f"{p}market.prices_snap": "SNAPSHOT",
        f"{p}eu.events": "TABLE", f"{p}legacy.old": "TABLE",
        f"{p}ops.load_ledger": "TABLE", f"{p}ops.relocation_checkpoints": "TABLE"}
    # exact counts after DML (tables.get num_rows is stale on the emulator; PARTITIONS is not)
    rows = {k: v.rows for k, v in s.tables.items()}
    assert rows[f"{p}market.prices"] == 5
    assert rows[f"{p}market.empty"] == 0
    assert rows[f"{p}market.weights_a"] == 2
    assert rows[f"{p}market.prices_snap"] == 5
    assert rows[f"{p}eu.events"] == 2
    assert rows[f"{p}legacy.old"] == 0
    assert rows[f"{p}market.latest"] is None
    assert s.dataset_rows(f"{p}market") == 12

    # COLUMNS only where the spec declares tables or expectations: market and ops
    prices = s.tables[f"{p}market.prices"]
    assert [(c.name, c.type, c.mode) for c in prices.columns] == [
        ("date", "DATE", "NULLABLE"), ("symbol", "STRING", "NULLABLE"),
        ("close", "FLOAT64", "NULLABLE"), ("regime", "STRING", "NULLABLE")]
    assert s.tables[f"{p}eu.events"].columns is None
    assert s.tables[f"{p}legacy.old"].columns is None
    # VIEWS only where the spec declares views
    assert "MAX(date)" in s.tables[f"{p}market.latest"].view_sql
    assert s.tables[f"{p}market.prices"].view_sql is None

    # ledger and checkpoints from ops
    assert [(e.table, e.source, e.content_hash, e.rows, e.run_id) for e in s.ledger] == [
        (f"{p}market.prices", "staging/yahoo.parquet", "abc123", 6380, "run-1"),
        (f"{p}market.prices", "staging/yahoo.parquet", "def456", 10, "run-2")]
    assert dt.datetime.fromisoformat(s.ledger[0].loaded_at) == dt.datetime(2025, 11, 18, 10, 0,
                                                                           tzinfo=dt.timezone.utc)
    assert s.loaded(f"{p}market.prices", "staging/yahoo.parquet", "def456")
    assert s.checkpoints == {f"{p}eu": "verified_copy", f"{p}legacy": "copied_out"}

    # observations: one scan for prices; weights_a needs none (min_columns, missing column)
    assert s.observations[f"{p}market.prices"] == {
        "rows": 5,
        "columns": 4,
        "distinct:symbol": 3,
        "min:close": 1.0,
        "max:close": 980.25,
        "placeholders:regime": 2,
        "placeholders:close": 2,  # 1 matches the FLOAT64 1.0 (cast '1' or '1.0')
        "coverage_min:date": "2000-01-03",
        "coverage_max:date": "2024-12-31",
    }
    assert s.observations[f"{p}market.weights_a"] == {"columns": 2, "missing_column:nope": True}
    assert set(s.observations) == {f"{p}market.prices", f"{p}market.weights_a"}

    # 1 list + TABLES (us-central1, EU, US) 3 + PARTITIONS 3 + COLUMNS (market) 1
    # + VIEWS (market) 1 + ledger with its key ranges 1 + checkpoints 1 + observe prices 1
    # + the ledger alone 1 (the key ranges table does not exist: "not found" names it)
    assert s.requests == 13
    # the snapshot round-trips through JSON
    assert Snapshot.model_validate_json(s.to_json()) == s


def test_snapshot_without_a_spec_reads_columns_and_views_everywhere(
        adapter: Adapter, ds_prefix: str) -> None:
    p = ds_prefix
    adapter.create_dataset(f"{p}a", "us-central1")
    adapter.create_dataset(f"{p}b", "EU")
    adapter.create_table(f"{p}a.t", [("id", "INT64", "NULLABLE")])
    adapter.execute(f"CREATE VIEW {adapter.q(f'{p}a.v')} AS SELECT id FROM {adapter.q(f'{p}a.t')}",
                    location="us-central1")
    adapter.create_table(f"{p}b.events", [("id", "INT64", "REQUIRED"), ("tags", "STRING", "REPEATED")])
    # a clone: BigQuery reports CLONE, the emulator BASE TABLE with a base table
    adapter.execute(f"CREATE TABLE {adapter.q(f'{p}a.t_clone')} CLONE {adapter.q(f'{p}a.t')}",
                    location="us-central1")

    s = read_snapshot(adapter, None)

    assert s.tables[f"{p}a.t_clone"].type == "CLONE"
    assert s.tables[f"{p}a.t_clone"].rows == 0
    assert [(c.name, c.type, c.mode) for c in s.tables[f"{p}b.events"].columns] == [
        ("id", "INT64", "REQUIRED"), ("tags", "STRING", "REPEATED")]
    assert s.tables[f"{p}a.v"].view_sql and s.tables[f"{p}a.v"].columns is not None
    assert s.ledger == [] and s.observations == {} and s.checkpoints == {}
    dt.datetime.fromisoformat(s.taken_at)
    # 1 list + 2 locations x (TABLES, PARTITIONS, COLUMNS, VIEWS: sent with TABLES, before it
    # says which datasets hold a view)
    assert s.requests == 9


def expected_requests(locations: int) -> int:
    """The formula for a spec-less snapshot of fewer than 100 datasets per location and
    fewer than 1,000 tables per PARTITIONS query: TABLES, PARTITIONS, COLUMNS, VIEWS."""
    return 1 + 4 * locations


def test_requests_grow_with_datasets_and_regions_not_tables(adapter: Adapter, ds_prefix: str) -> None:
    p = ds_prefix
    layout = {f"{p}us1": "us-central1", f"{p}us2": "us-central1", f"{p}eu": "EU"}
    for name, loc in layout.items():
        adapter.create_dataset(name, loc)
    datasets = list(layout)

    def add_tables(start: int, stop: int) -> None:
        for i in range(start, stop):
            ds = datasets[i % len(datasets)]
            adapter.create_table(f"{ds}.t{i:03d}", [("id", "INT64", "NULLABLE"), ("v", "STRING", "NULLABLE")])

    add_tables(0, 3)
    adapter.execute(f"CREATE VIEW {adapter.q(f'{p}us1.v')} AS SELECT 1 AS x", location="us-central1")
    small = read_snapshot(adapter, None)
    assert len(small.tables) == 4

    add_tables(3, 30)
    adapter.execute(f"INSERT INTO {adapter.q(f'{p}eu.t029')} (id, v) VALUES (1, 'a')", location="EU")
    large = read_snapshot(adapter, None)
    assert len(large.tables) == 31
    assert large.tables[f"{p}eu.t029"].rows == 1

    assert small.requests == large.requests == expected_requests(locations=2)


def test_one_union_query_per_chunk_of_datasets(adapter: Adapter, ds_prefix: str,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    p = ds_prefix
    for i in range(5):
        adapter.create_dataset(f"{p}d{i}", "us-central1")
        adapter.create_table(f"{p}d{i}.t", [("id", "INT64", "NULLABLE")])
    one_chunk = read_snapshot(adapter, None)
    assert one_chunk.requests == 1 + 4  # list + TABLES + PARTITIONS + COLUMNS + VIEWS
    monkeypatch.setattr(snap, "CHUNK_DATASETS", 2)
    three_chunks = read_snapshot(adapter, None)
    assert three_chunks.requests == 1 + 4 * 3
    assert three_chunks.tables == one_chunk.tables


def test_expectation_queries_are_batched_per_location(adapter: Adapter, ds_prefix: str,
                                               project_root: Path) -> None:
    p = ds_prefix
    adapter.create_dataset(f"{p}training", "us-central1")
    for i in range(4):
        adapter.create_table(f"{p}training.zl_{i}", [("regime", "STRING", "NULLABLE"),
                                                     ("training_weight", "INT64", "NULLABLE")])
    adapter.execute(f"INSERT INTO {adapter.q(f'{p}training.zl_0')} (regime, training_weight) "
                    "VALUES ('allhistory', 1), ('crisis', 500), ('crisis', 1)", location="us-central1")
    spec = project_root / "desired_state" / "spec.yaml"
    spec.write_text(textwrap.dedent(f"""\
        project: cbi-v14
        default_location: us-central1
        ops_dataset: {p}training
        datasets: {{{p}training: {{}}}}
        expectations:
          "{p}training.zl_*":
            min_distinct: {{regime: 7}}
            ranges: {{training_weight: {{min: 50, max: 1000}}}}
            placeholders: {{regime: [], training_weight: [1]}}
        """))
    desired = load_spec(spec, root=project_root)
    s = read_snapshot(adapter, desired)
    # 1 list + TABLES + PARTITIONS + COLUMNS + one UNION ALL observing the 4 tables
    # + the ops reads (the ledger with its key ranges, checkpoints) of ops_dataset `training`:
    # sent before TABLES says it holds none of them (not found: no rows)
    assert s.requests == 4 + 1 + 2
    assert s.observations[f"{p}training.zl_0"] == {
        "rows": 3, "columns": 2, "distinct:regime": 2, "min:training_weight": 1,
        "max:training_weight": 500,
        "placeholders:regime": 0,  # empty list: the spec's placeholder_values (no 'allhistory')
        "placeholders:training_weight": 2}
    assert s.observations[f"{p}training.zl_3"]["rows"] == 0
    assert s.observations[f"{p}training.zl_3"]["min:training_weight"] is None


# ------------------------------------------------------------- pure helpers (no emulator)

def test_partition_batches_bound_tables_and_datasets() -> None:
    stored = {f"d{i:03d}": [f"t{j}" for j in range(10)] for i in range(250)}
    stored["big"] = [f"t{j}" for j in range(2 * PARTITIONS_MAX_TABLES + 5)]
    stored["empty"] = []
    batches = _partition_batches(stored)
    named = [b for b in batches if b[1] is not None]
    whole = [b for b in batches if b[1] is None]
    assert [len(n) for _, n in named] == [PARTITIONS_MAX_TABLES, PARTITIONS_MAX_TABLES, 5]
    assert all(len(ds) <= snap.CHUNK_DATASETS for ds, _ in whole)
    assert all(sum(len(stored[d]) for d in ds) <= PARTITIONS_MAX_TABLES for ds, _ in whole)
    assert sorted(d for ds, _ in whole for d in ds) == sorted(d for d in stored if d.startswith("d"))


def test_placeholder_spellings() -> None:
    assert placeholder_strings(["TODO", 1, 2.5, 3.0, True]) == [
        "TODO", "1", "1.0", "2.5", "3.0", "3", "true", "True"]
