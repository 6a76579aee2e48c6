"""Through the strict BigQuery harness (tests/support/strict_bigquery.py): the rules where
the emulator differs from BigQuery, and the adapter and planner behaving right under them.

Each test names the rule (R1..R9 in the harness's docstring, docs/bigquery.md) it exercises.
The real client talks to the real emulator through the harness; nothing is mocked.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from google.cloud import bigquery

from reconcile.bq.adapter import Adapter, BigQueryError, is_transient, local_client
from reconcile.plan.actions import AddColumns, FlagSchemaConflict
from reconcile.plan.planner import plan
from reconcile.snapshot import read as snap
from reconcile.snapshot.read import read_snapshot
from reconcile.spec.load import load_spec
from reconcile.spec.sources import read_sources

pytestmark = pytest.mark.integration

PROJECT = "cbi-v14"


@pytest.fixture
def sad(strict) -> Adapter:
    """An adapter whose every request goes through the strict harness (fast retries)."""
    return Adapter(local_client(PROJECT, strict.endpoint), PROJECT, emulator=True, retry_delay=0.05)


def write_spec(root: Path, text: str):
    spec = root / "desired_state" / "spec.yaml"
    spec.parent.mkdir(parents=True, exist_ok=True)
    spec.write_text(textwrap.dedent(text), encoding="utf-8")
    return load_spec(spec, root=root)


def parquet(tmp: Path, name: str, table: pa.Table) -> Path:
    path = tmp / name
    pq.write_table(table, path)
    return path


# ------------------------------------------------------------------ R1 hidden datasets

def test_hidden_datasets_are_left_out_of_the_snapshot(sad: Adapter, strict, ds_prefix: str) -> None:
    """R1: datasets.list(all=true) returns `_<hash>` and `_script...` datasets; a snapshot that
    queried their INFORMATION_SCHEMA would fail. The adapter lists without them."""
    sad.create_dataset(f"{ds_prefix}d", "US")
    raw = [d.dataset_id for d in sad.client.list_datasets(include_all=True)]
    assert any(n.startswith("_script") for n in raw) and any(n.startswith("_") and len(n) > 30 for n in raw)
    names = [n for n, _ in sad.list_datasets()]
    assert f"{ds_prefix}d" in names
    assert not [n for n in names if n.startswith("_")]
    s = read_snapshot(sad, None)
    assert f"{ds_prefix}d" in s.datasets and not [n for n in s.datasets if n.startswith("_")]


# ------------------------------------------------------------------ R2 pseudo-columns, case

def test_ingestion_time_pseudo_columns_and_column_case_are_not_drift(sad: Adapter, strict, ds_prefix: str,
                                                                    project_root: Path) -> None:
    """R2: COLUMNS lists _PARTITIONTIME/_PARTITIONDATE (is_hidden YES) for an ingestion-time
    partitioned table; BigQuery column names are case-insensitive. Neither is a conflict."""
    p = ds_prefix
    desired = write_spec(project_root, f"""\
        version: 1
        project: cbi-v14
        default_location: US
        ops_dataset: {p}ops
        datasets:
          {p}d: {{}}
          {p}ops: {{}}
        tables:
          {p}d.ing:
            columns: [{{name: amount, type: INT64}}, {{name: note, type: STRING}}]
        """)
    sad.create_dataset(f"{p}d", "US")
    t = bigquery.Table(f"{PROJECT}.{p}d.ing", schema=[bigquery.SchemaField("Amount", "INT64")])
    t.time_partitioning = bigquery.TimePartitioning(type_="DAY")  # no field: ingestion time
    sad.client.create_table(t)
    raw = sad.query(f"SELECT column_name, is_hidden FROM `{PROJECT}`.`{p}d`.INFORMATION_SCHEMA.COLUMNS "
                    "WHERE table_name = 'ing'", location="US")
    assert {r["column_name"]: r["is_hidden"] for r in raw} == {
        "Amount": "NO", "_PARTITIONTIME": "YES", "_PARTITIONDATE": "YES"}
    s = read_snapshot(sad, desired)
    assert [c.name for c in s.tables[f"{p}d.ing"].columns] == ["Amount"]
    pl = plan(desired, s, read_sources(desired))
    mine = [a for a in pl.actions if getattr(a, "table", None) == f"{p}d.ing"]
    assert not [a for a in mine if isinstance(a, FlagSchemaConflict)], mine
    assert [a.columns for a in mine if isinstance(a, AddColumns)] == [(("note", "STRING", "NULLABLE"),)]


# ------------------------------------------------------------------ R3 rate limits and retries

def test_rate_limited_load_request_is_retried(sad: Adapter, strict, ds_prefix: str, tmp_path: Path) -> None:
    """R3: an HTTP 403 `rateLimitExceeded` on a load's jobs.insert is a rate limit, retried
    with backoff (the upload path has no retry of its own for 403)."""
    sad.create_dataset(f"{ds_prefix}d", "US")
    sad.create_table(f"{ds_prefix}d.t", [("x", "INT64", "NULLABLE")])
    path = parquet(tmp_path, "x.parquet", pa.table({"x": pa.array([1, 2, 3], pa.int64())}))
    strict.fail_next("load", "rateLimitExceeded", as_http=True)
    assert sad.load_parquet(path, f"{ds_prefix}d.t") == 3
    assert sad.count_rows(f"{ds_prefix}d.t") == 3
    assert strict.strict.injected and strict.strict.injected[0].startswith("rateLimitExceeded: load")


def test_failed_copy_job_is_started_again_under_a_new_id(sad: Adapter, strict, ds_prefix: str) -> None:
    """R3: a copy job that BigQuery accepted and failed with "too many table update operations"
    is started again, under the next attempt's job id (the failed id stays failed)."""
    sad.create_dataset(f"{ds_prefix}d", "US")
    sad.create_table(f"{ds_prefix}d.t", [("x", "INT64", "NULLABLE")])
    sad.insert_rows_dml(f"{ds_prefix}d.t", [{"x": 1}])
    strict.fail_next("copy", "rateLimitExceeded")
    sad.copy_table(f"{ds_prefix}d.t", f"{ds_prefix}d.t2")
    assert sad.count_rows(f"{ds_prefix}d.t2") == 1
    copies = [j for j in sad.jobs if "_c_" in j]
    assert len(copies) == 2 and copies[0].endswith("_0") and copies[1].endswith("_1")
    assert copies[0].rsplit("_", 1)[0] == copies[1].rsplit("_", 1)[0]


def test_quota_exceeded_is_not_retried(sad: Adapter, strict, ds_prefix: str) -> None:
    """R3/R8: `quotaExceeded` is a daily quota: retrying only burns tomorrow's budget."""
    sad.create_dataset(f"{ds_prefix}d", "US")
    sad.create_table(f"{ds_prefix}d.t", [("x", "INT64", "NULLABLE")])
    strict.fail_next("copy", "quotaExceeded", "Quota exceeded", times=3)
    with pytest.raises(BigQueryError) as e:
        sad.copy_table(f"{ds_prefix}d.t", f"{ds_prefix}d.t2")
    assert len(strict.strict.injected) == 1
    assert not is_transient(e.value)


def test_rate_limit_reason_is_transient_for_the_flows() -> None:
    """The one classification the flows' task retries use: a 403 whose reason is
    rateLimitExceeded is transient; a plain 403 (access denied) is not."""
    from google.api_core import exceptions as gexc

    limited = gexc.Forbidden("Exceeded rate limits", errors=[{"reason": "rateLimitExceeded"}])
    denied = gexc.Forbidden("Access Denied", errors=[{"reason": "accessDenied"}])
    update = gexc.Forbidden("Exceeded rate limits: too many table update operations for this table")
    assert is_transient(limited) and is_transient(update)
    assert not is_transient(denied)


# ------------------------------------------------------------------ R4 job ids

def test_lost_copy_answer_reads_the_existing_job(sad: Adapter, strict, ds_prefix: str) -> None:
    """R4: the copy ran, its answer was lost; the client re-sends the same job id and BigQuery
    answers 409. The adapter reads the existing job instead of failing or copying twice."""
    sad.create_dataset(f"{ds_prefix}d", "US")
    sad.create_table(f"{ds_prefix}d.t", [("x", "INT64", "NULLABLE")])
    sad.insert_rows_dml(f"{ds_prefix}d.t", [{"x": 1}, {"x": 2}])
    strict.lose_next_answer()
    sad.copy_table(f"{ds_prefix}d.t", f"{ds_prefix}d.t2")
    assert sad.count_rows(f"{ds_prefix}d.t2") == 2
    assert strict.strict.duplicates, "the re-sent id was answered 409"


def test_lost_insert_answer_runs_the_insert_once(sad: Adapter, strict, ds_prefix: str) -> None:
    """R4: an INSERT (ledger, run records) whose answer was lost runs once, not twice."""
    sad.create_dataset(f"{ds_prefix}d", "US")
    sad.create_table(f"{ds_prefix}d.t", [("x", "INT64", "NULLABLE")])
    strict.lose_next_answer()
    sad.insert_rows_dml(f"{ds_prefix}d.t", [{"x": 7}])
    assert sad.count_rows(f"{ds_prefix}d.t") == 1
    assert strict.strict.duplicates


def test_job_ids_are_deterministic_per_statement(strict) -> None:
    """One id per logical statement: the same call keeps its id across retries (the base is a
    hash of the statement), the same statement sent again on purpose gets the next number,
    another adapter of the run its own prefix."""
    ad = Adapter(local_client(PROJECT, strict.endpoint), PROJECT, run_id="run-1", emulator=True)
    a = ad._statement_id("q", "INSERT 1")
    b = ad._statement_id("q", "INSERT 1")
    c = ad._statement_id("q", "INSERT 2")
    assert a.startswith("reconcile_run-1_") and "_q_" in a and a.endswith("_0") and b.endswith("_1")
    assert a[:-2] == b[:-2] and c[:-2] != a[:-2]
    # Another adapter of the same run (a flow task) runs the same text anew: its own ids.
    again = Adapter(local_client(PROJECT, strict.endpoint), PROJECT, run_id="run-1", emulator=True)
    other = again._statement_id("q", "INSERT 1")
    assert other != a and other.split("_q_")[1] == a.split("_q_")[1]


# ------------------------------------------------------------------ R7 locations, scans

def test_every_job_carries_an_explicit_location_and_scans_a_byte_cap(sad: Adapter, strict, ds_prefix: str,
                                                                    tmp_path: Path) -> None:
    """R7: every job (queries, DML, loads, copies) is sent with the location of its data; every
    scan carries maximumBytesBilled."""
    sad.create_dataset(f"{ds_prefix}eu", "EU")
    sad.create_dataset(f"{ds_prefix}us", "US")
    sad.create_table(f"{ds_prefix}eu.t", [("x", "INT64", "NULLABLE")])
    sad.insert_rows_dml(f"{ds_prefix}eu.t", [{"x": 1}])
    sad.load_parquet(parquet(tmp_path, "x.parquet", pa.table({"x": pa.array([5], pa.int64())})),
                     f"{ds_prefix}eu.t")
    sad.copy_table(f"{ds_prefix}eu.t", f"{ds_prefix}us.t")  # across regions: runs where the source is
    sad.query(f"SELECT COUNT(*) AS n FROM {sad.q(ds_prefix + 'eu.t')}")
    sad.count_rows(f"{ds_prefix}us.t")
    kinds = {k for k, _ in strict.strict.job_locations}
    assert {"query", "copy", "load"} <= kinds
    assert [k for k, loc in strict.strict.job_locations if not loc] == []
    assert ("copy", "EU") in strict.strict.job_locations
    assert strict.strict.unbounded_scans == []
    assert sad.count_rows(f"{ds_prefix}us.t") == 2


def test_cross_location_query_is_refused(sad: Adapter, strict, ds_prefix: str) -> None:
    """R7: a query joining datasets of two locations fails on BigQuery (the emulator runs it)."""
    sad.create_dataset(f"{ds_prefix}eu", "EU")
    sad.create_dataset(f"{ds_prefix}us", "US")
    sad.create_table(f"{ds_prefix}eu.t", [("x", "INT64", "NULLABLE")])
    sad.create_table(f"{ds_prefix}us.t", [("x", "INT64", "NULLABLE")])
    with pytest.raises(BigQueryError, match="not found in location"):
        sad.query(f"SELECT * FROM {sad.q(ds_prefix + 'eu.t')} JOIN {sad.q(ds_prefix + 'us.t')} USING (x)")


def test_snapshot_of_two_regions_passes_the_location_rules(sad: Adapter, strict, ds_prefix: str) -> None:
    """R5, R7: the snapshot reads each location's INFORMATION_SCHEMA in that location, and
    PARTITIONS dataset by dataset: no rule refuses it."""
    for ds, loc in (("eu", "EU"), ("us", "US"), ("asia", "asia-northeast1")):
        sad.create_dataset(f"{ds_prefix}{ds}", loc)
        sad.create_table(f"{ds_prefix}{ds}.t", [("x", "INT64", "NULLABLE")])
    s = read_snapshot(sad, None)
    assert {f"{ds_prefix}{d}.t" for d in ("eu", "us", "asia")} <= set(s.tables)
    assert strict.strict.refused == []


# ------------------------------------------------------------------ R5 / R6 INFORMATION_SCHEMA scopes

def test_partitions_are_dataset_scoped_and_bounded(sad: Adapter, strict, ds_prefix: str,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """R5: `region-x`.INFORMATION_SCHEMA.PARTITIONS is refused; one PARTITIONS query may read at
    most 1,000 tables (here the bound is lowered to 3 on both sides to keep the test small)."""
    sad.create_dataset(f"{ds_prefix}d", "US")
    for i in range(5):
        sad.create_table(f"{ds_prefix}d.t{i}", [("x", "INT64", "NULLABLE")])
    with pytest.raises(BigQueryError, match="PARTITIONS"):
        sad.query("SELECT * FROM `region-us`.INFORMATION_SCHEMA.PARTITIONS", location="US")
    import tests.support.strict_bigquery as sb

    monkeypatch.setattr(sb, "MAX_TABLES_PER_QUERY", 3)
    with pytest.raises(BigQueryError, match="too many tables"):
        sad.query(f"SELECT * FROM `{PROJECT}`.`{ds_prefix}d`.INFORMATION_SCHEMA.PARTITIONS", location="US")
    monkeypatch.setattr(snap, "PARTITIONS_MAX_TABLES", 3)
    s = read_snapshot(sad, None)
    assert all(s.tables[f"{ds_prefix}d.t{i}"].rows == 0 for i in range(5))


def test_table_storage_is_region_level_only(sad: Adapter, strict, ds_prefix: str) -> None:
    """R6: TABLE_STORAGE takes a region qualifier, never a dataset one."""
    sad.create_dataset(f"{ds_prefix}d", "EU")
    sad.create_table(f"{ds_prefix}d.t", [("x", "INT64", "NULLABLE")])
    sad.insert_rows_dml(f"{ds_prefix}d.t", [{"x": 1}, {"x": 2}])
    with pytest.raises(BigQueryError, match="region"):
        sad.query(f"SELECT * FROM `{PROJECT}`.`{ds_prefix}d`.INFORMATION_SCHEMA.TABLE_STORAGE", location="EU")
    rows = sad.query("SELECT table_schema, table_name, total_rows FROM `region-eu`.INFORMATION_SCHEMA.TABLE_STORAGE",
                     location="EU")
    assert {"table_schema": f"{ds_prefix}d", "table_name": "t", "total_rows": 2} in rows


# ------------------------------------------------------------------ R8 cross-region copy quotas

def test_cross_region_copy_quota_per_destination_table(sad: Adapter, strict, ds_prefix: str) -> None:
    """R8: at most 100 cross-region copies per destination table per day (here lowered to 1):
    the next is `quotaExceeded`, not retried; in-region copies do not count."""
    strict.table_copy_limit = 1
    sad.create_dataset(f"{ds_prefix}eu", "EU")
    sad.create_dataset(f"{ds_prefix}us", "US")
    sad.create_table(f"{ds_prefix}eu.t", [("x", "INT64", "NULLABLE")])
    sad.copy_table(f"{ds_prefix}eu.t", f"{ds_prefix}us.t")
    sad.copy_table(f"{ds_prefix}eu.t", f"{ds_prefix}eu.t_same_region")
    sad.delete_table(f"{ds_prefix}us.t")
    with pytest.raises(BigQueryError, match="cross-region copy jobs per destination table"):
        sad.copy_table(f"{ds_prefix}eu.t", f"{ds_prefix}us.t")
    assert strict.strict.copies == {"project": 1, f"{ds_prefix}us.t": 1}


# ------------------------------------------------------------------ R9 non-table objects, Parquet

def test_deleting_a_dataset_destroys_its_routines_and_models(sad: Adapter, strict, ds_prefix: str) -> None:
    """R9: routines and models live in a dataset beside its tables; delete_contents drops them."""
    sad.create_dataset(f"{ds_prefix}d", "US")
    sad.execute(f"CREATE FUNCTION `{PROJECT}.{ds_prefix}d.plus1`(x INT64) AS (x + 1)", location="US")
    strict.add_model(f"{ds_prefix}d", "m1")
    assert [r.routine_id for r in sad.client.list_routines(f"{PROJECT}.{ds_prefix}d")] == ["plus1"]
    assert [m.model_id for m in sad.client.list_models(f"{PROJECT}.{ds_prefix}d")] == ["m1"]
    sad.delete_dataset(f"{ds_prefix}d")
    assert sorted(strict.strict.destroyed) == [f"MODEL {ds_prefix}d.m1", f"ROUTINE {ds_prefix}d.plus1"]


def test_parquet_loads_infer_lists(sad: Adapter, strict, ds_prefix: str, tmp_path: Path) -> None:
    """Parquet LIST columns load as arrays of their element (enable_list_inference)."""
    sad.create_dataset(f"{ds_prefix}d", "US")
    sad.create_table(f"{ds_prefix}d.t", [("x", "INT64", "NULLABLE")])
    sad.load_parquet(parquet(tmp_path, "x.parquet", pa.table({"x": pa.array([1], pa.int64())})), f"{ds_prefix}d.t")
    loads = strict.strict.loads
    assert loads and all((c.get("parquetOptions") or {}).get("enableListInference") is True for c in loads)


# ------------------------------------------------------------------ R10 dataset replication

def test_replication_statements_follow_bigquerys_preconditions(sad: Adapter, strict, ds_prefix: str) -> None:
    """R10 (https://cloud.google.com/bigquery/docs/data-replication): a replica is added once,
    promoted only when its first sync is complete, and the primary is never dropped; the
    region's SCHEMATA_REPLICAS lists the replicas; the promoted dataset keeps its tables."""
    ds = f"{ds_prefix}d"
    sad.create_dataset(ds, "US")
    sad.execute(f"CREATE TABLE `{PROJECT}.{ds}.t` AS SELECT 1 AS a UNION ALL SELECT 2", location="US")
    schema = f"`{PROJECT}`.`{ds}`"
    strict.replicas.sync_reads = 1
    sad.execute(f"ALTER SCHEMA {schema} ADD REPLICA `us-central1` OPTIONS(location = 'us-central1')", location="US")
    with pytest.raises(BigQueryError, match="Already Exists"):
        sad.execute(f"ALTER SCHEMA {schema} ADD REPLICA `us-central1` OPTIONS(location = 'us-central1')",
                    location="US", what="add again")
    with pytest.raises(BigQueryError, match="not complete"):
        sad.execute(f"ALTER SCHEMA {schema} SET OPTIONS(primary_replica = 'us-central1')", location="us-central1")
    view = ("SELECT location, replica_primary_assigned AS p, creation_complete AS c "
            "FROM `region-us-central1`.INFORMATION_SCHEMA.SCHEMATA_REPLICAS WHERE schema_name = @d ORDER BY location")
    from reconcile.bq.adapter import param

    # The first full sync completes after one read (sync_reads = 1).
    assert sad.query(view, [param("d", ds)], location="us-central1") == [
        {"location": "US", "p": True, "c": True}, {"location": "us-central1", "p": False, "c": False}]
    assert sad.query(view, [param("d", ds)], location="us-central1") == [
        {"location": "US", "p": True, "c": True}, {"location": "us-central1", "p": False, "c": True}]
    with pytest.raises(BigQueryError, match="primary replica"):
        sad.execute(f"ALTER SCHEMA {schema} DROP REPLICA `US`", location="us-central1", what="drop primary")
    sad.execute(f"ALTER SCHEMA {schema} SET OPTIONS(primary_replica = 'us-central1')", location="us-central1")
    sad.execute(f"ALTER SCHEMA {schema} DROP REPLICA `US`", location="us-central1")
    assert sad.query(view, [param("d", ds)], location="us-central1") == [
        {"location": "us-central1", "p": True, "c": True}]
    assert sad.dataset_location(ds) == "us-central1"  # (also refreshes the adapter's lookup)
    assert sad.count_rows(f"{ds}.t") == 2
    assert [s for s, _, _ in strict.replicas.statements] == ["add_replica", "promote", "drop_replica"]
