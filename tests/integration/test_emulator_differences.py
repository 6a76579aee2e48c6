"""Where the local BigQuery (bqemulator 1.4.0) differs from BigQuery, and what the code does.

Each test pins one row of docs/emulator.md: it shows the emulator's behaviour, so an
upgrade that changes it fails here first, and, where the code works around it, that
the workaround holds. Nothing is mocked: these are requests to the real emulator.
"""

from __future__ import annotations

import pytest
from google.cloud import bigquery

from reconcile.bq.adapter import Adapter, BigQueryError
from reconcile.snapshot.read import read_snapshot

pytestmark = pytest.mark.integration


def _table_with_rows(adapter: Adapter, ref: str, n: int, location: str = "us-central1") -> None:
    adapter.create_table(ref, [("id", "INT64", "NULLABLE")])
    values = ", ".join(f"({i})" for i in range(n))
    adapter.execute(f"INSERT INTO {adapter.q(ref)} (id) VALUES {values}", location=location)


def test_table_storage_is_not_supported(adapter: Adapter, ds_prefix: str) -> None:
    ds = f"{ds_prefix}a"
    adapter.create_dataset(ds, "us-central1")
    _table_with_rows(adapter, f"{ds}.t", 3)
    # region-qualified: an error
    with pytest.raises(BigQueryError, match="Invalid dataset ID"):
        adapter.query("SELECT * FROM `region-us-central1`.INFORMATION_SCHEMA.TABLE_STORAGE",
                      location="us-central1")
    # dataset-qualified TABLE_STORAGE and legacy __TABLES__: errors too (reported in the
    # response's `errors` list, which the adapter raises; see the failed-query test)
    with pytest.raises(BigQueryError, match="TABLE_STORAGE"):
        adapter.query(f"SELECT * FROM `{adapter.project}`.`{ds}`.INFORMATION_SCHEMA.TABLE_STORAGE",
                      location="us-central1")
    with pytest.raises(BigQueryError):
        adapter.query(f"SELECT * FROM `{adapter.project}`.`{ds}`.__TABLES__", location="us-central1")
    # PARTITIONS answers, exactly
    rows = adapter.query(f"SELECT table_name, SUM(total_rows) AS n FROM `{adapter.project}`.`{ds}`"
                         ".INFORMATION_SCHEMA.PARTITIONS GROUP BY table_name", location="us-central1")
    assert rows == [{"table_name": "t", "n": 3}]


def test_project_level_tables_view_returns_nothing(adapter: Adapter, ds_prefix: str) -> None:
    ds = f"{ds_prefix}a"
    adapter.create_dataset(ds, "us-central1")
    adapter.create_table(f"{ds}.t", [("id", "INT64", "NULLABLE")])
    assert adapter.query("SELECT table_name FROM `region-us-central1`.INFORMATION_SCHEMA.TABLES",
                         location="us-central1") == []
    assert adapter.query(f"SELECT table_name FROM `{adapter.project}`.`{ds}`.INFORMATION_SCHEMA.TABLES",
                         location="us-central1") == [{"table_name": "t"}]


def test_num_rows_is_stale_after_dml_and_partitions_is_not(adapter: Adapter, ds_prefix: str) -> None:
    ds = f"{ds_prefix}a"
    adapter.create_dataset(ds, "us-central1")
    _table_with_rows(adapter, f"{ds}.t", 4)
    assert adapter.client.get_table(adapter.table_id(f"{ds}.t")).num_rows == 0  # stale
    assert read_snapshot(adapter, None).tables[f"{ds}.t"].rows == 4


def test_empty_table_has_a_partitions_row_with_zero_rows(adapter: Adapter, ds_prefix: str) -> None:
    ds = f"{ds_prefix}a"
    adapter.create_dataset(ds, "us-central1")
    adapter.create_table(f"{ds}.empty", [("id", "INT64", "NULLABLE")])
    rows = adapter.query(f"SELECT table_name, total_rows FROM `{adapter.project}`.`{ds}`"
                         ".INFORMATION_SCHEMA.PARTITIONS", location="us-central1")
    assert [(r["table_name"], r["total_rows"]) for r in rows] == [("empty", 0)]


def test_job_labels_are_not_returned_by_jobs_get(adapter: Adapter) -> None:
    cfg = bigquery.QueryJobConfig(labels={"reconcile_run_id": "run-1"})
    job = adapter.client.query("SELECT 1 AS x", job_config=cfg, location="us-central1")
    job.result()
    assert job.labels == {"reconcile_run_id": "run-1"}  # what the client sent
    fetched = adapter.client.get_job(job.job_id, location=job.location)
    assert fetched.labels == {}  # BigQuery returns the labels; the emulator drops them


def test_clone_is_reported_as_base_table(adapter: Adapter, ds_prefix: str) -> None:
    ds = f"{ds_prefix}a"
    adapter.create_dataset(ds, "us-central1")
    _table_with_rows(adapter, f"{ds}.t", 2)
    adapter.execute(f"CREATE TABLE {adapter.q(f'{ds}.c')} CLONE {adapter.q(f'{ds}.t')}",
                    location="us-central1")
    rows = adapter.query(f"SELECT table_type, base_table_name, snapshot_time_ms FROM "
                         f"`{adapter.project}`.`{ds}`.INFORMATION_SCHEMA.TABLES WHERE table_name = 'c'",
                         location="us-central1")
    assert rows == [{"table_type": "BASE TABLE", "base_table_name": "t", "snapshot_time_ms": None}]
    s = read_snapshot(adapter, None)
    assert s.tables[f"{ds}.c"].type == "CLONE" and s.tables[f"{ds}.c"].rows == 2


def test_float_casts_to_string_with_a_decimal_point(adapter: Adapter) -> None:
    rows = adapter.query("SELECT CAST(1.0 AS STRING) AS f, CAST(1 AS STRING) AS i, "
                         "CAST(TRUE AS STRING) AS b", location="us-central1")
    assert rows == [{"f": "1.0", "i": "1", "b": "true"}]  # BigQuery: f = '1'


def test_materialized_view_has_no_partitions_row(adapter: Adapter, ds_prefix: str) -> None:
    ds = f"{ds_prefix}a"
    adapter.create_dataset(ds, "us-central1")
    _table_with_rows(adapter, f"{ds}.t", 3)
    adapter.execute(f"CREATE MATERIALIZED VIEW {adapter.q(f'{ds}.mv')} AS "
                    f"SELECT id, COUNT(*) AS n FROM {adapter.q(f'{ds}.t')} GROUP BY id",
                    location="us-central1")
    s = read_snapshot(adapter, None)
    assert s.tables[f"{ds}.mv"].type == "MATERIALIZED VIEW"
    assert s.tables[f"{ds}.mv"].rows is None  # unknown, not 0


def test_dataset_names_are_case_insensitive(adapter: Adapter, ds_prefix: str) -> None:
    ds = f"{ds_prefix}Mixed"
    adapter.create_dataset(ds, "us-central1")
    adapter.create_table(f"{ds}.t", [("id", "INT64", "NULLABLE")])
    # BigQuery: dataset names are case-sensitive, this is "not found"
    rows = adapter.query(f"SELECT COUNT(*) AS n FROM `{adapter.project}`.`{ds.lower()}`.`t`",
                         location="us-central1")
    assert rows == [{"n": 0}]


def test_unaliased_aggregate_column_name(adapter: Adapter) -> None:
    rows = adapter.query("SELECT COUNT(*) FROM UNNEST([1, 2])", location="us-central1")
    assert list(rows[0]) == ["count_star()"]  # BigQuery: f0_; the code always aliases


def test_create_schema_ignores_location_option(adapter: Adapter, ds_prefix: str) -> None:
    ds = f"{ds_prefix}ddl"
    adapter.execute(f"CREATE SCHEMA `{adapter.project}`.`{ds}` OPTIONS(location = 'EU')")
    assert dict(adapter.list_datasets())[ds] == "US"  # BigQuery: EU
    api = f"{ds_prefix}api"
    adapter.create_dataset(api, "EU")
    assert dict(adapter.list_datasets())[api] == "EU"


def test_tables_get_leaves_view_query_empty(adapter: Adapter, ds_prefix: str) -> None:
    ds = f"{ds_prefix}a"
    adapter.create_dataset(ds, "us-central1")
    adapter.execute(f"CREATE VIEW {adapter.q(f'{ds}.v')} AS SELECT 1 AS x", location="us-central1")
    assert adapter.client.get_table(adapter.table_id(f"{ds}.v")).view_query is None  # BigQuery: the SQL
    assert adapter.view_definitions(ds, location="us-central1") == {"v": "SELECT 1 AS x"}


def test_table_expiration_is_not_kept(adapter: Adapter, ds_prefix: str) -> None:
    ds = f"{ds_prefix}a"
    adapter.create_dataset(ds, "us-central1")
    adapter.create_table(f"{ds}.t", [("id", "INT64", "NULLABLE")], expires_ms=1)
    adapter.set_table_expiry(f"{ds}.t", 1)
    adapter.execute(f"ALTER TABLE {adapter.q(f'{ds}.t')} SET OPTIONS("
                    "expiration_timestamp = TIMESTAMP '2030-01-01 00:00:00+00')", location="us-central1")
    # all three accepted, none kept: the table does not expire (BigQuery deletes it)
    assert adapter.client.get_table(adapter.table_id(f"{ds}.t")).expires is None
    assert adapter.table_exists(f"{ds}.t")


def test_alter_table_set_labels_does_not_parse(adapter: Adapter, ds_prefix: str) -> None:
    ds = f"{ds_prefix}a"
    adapter.create_dataset(ds, "us-central1")
    adapter.create_table(f"{ds}.t", [("id", "INT64", "NULLABLE")])
    with pytest.raises(BigQueryError, match="Parser Error"):
        adapter.execute(f"ALTER TABLE {adapter.q(f'{ds}.t')} SET OPTIONS(labels = [('k', 'v')])",
                        location="us-central1")


def test_dml_stats_are_not_reported(adapter: Adapter, ds_prefix: str) -> None:
    ds = f"{ds_prefix}a"
    adapter.create_dataset(ds, "us-central1")
    adapter.create_table(f"{ds}.t", [("id", "INT64", "NULLABLE")])
    stats = adapter.run_dml(f"INSERT INTO {adapter.q(f'{ds}.t')} (id) VALUES (1), (2)",
                            location="us-central1")
    assert stats.affected == 2
    assert (stats.inserted, stats.updated, stats.deleted) == (None, None, None)  # BigQuery: 2, 0, 0


def test_failed_query_is_an_error_not_an_empty_result(adapter: Adapter, ds_prefix: str) -> None:
    """The emulator answers a failing jobs.query with jobComplete, no rows and an
    `errors` list (BigQuery answers with an HTTP error). The adapter raises either way."""
    ds = f"{ds_prefix}q"
    adapter.create_dataset(ds, "us-central1")
    raw = adapter.client._connection.api_request(
        method="POST", path=f"/projects/{adapter.project}/queries",
        data={"query": f"SELECT nope FROM `{ds}.missing`", "useLegacySql": False})
    assert raw["jobComplete"] and raw.get("errors") and not raw.get("rows")
    with pytest.raises(BigQueryError, match="missing"):
        adapter.query(f"SELECT nope FROM `{ds}.missing`", location="us-central1")


def test_no_replication_but_a_location_patch_moves_a_dataset(raw_emulator, ds_prefix: str) -> None:
    """The emulator has no dataset replication; it does accept a datasets.patch of `location`
    (BigQuery does not), which is how the strict harness emulates a promotion (R10). Talks to
    the emulator itself even under --strict-bigquery (the harness answers replication)."""
    from reconcile.bq.adapter import local_client

    adapter = Adapter(local_client("cbi-v14", raw_emulator.endpoint), "cbi-v14", emulator=True)
    ds = f"{ds_prefix}a"
    adapter.create_dataset(ds, "US")
    _table_with_rows(adapter, f"{ds}.t", 3, location="US")
    with pytest.raises(BigQueryError):
        adapter.execute(f"ALTER SCHEMA `{adapter.project}`.`{ds}` ADD REPLICA `us-central1` "
                        "OPTIONS(location = 'us-central1')", location="US")
    d = adapter.client.get_dataset(f"{adapter.project}.{ds}")
    d._properties["location"] = "us-central1"
    adapter.client.update_dataset(d, ["location"])
    assert adapter.dataset_location(ds) == "us-central1"
    assert adapter.count_rows(f"{ds}.t") == 3


def test_query_parameters_are_refused_in_a_multi_statement_script(adapter: Adapter, ds_prefix: str) -> None:
    """BigQuery binds named parameters in every statement of a script; the emulator binds
    none there (a single statement binds them): the ops rows of one load (key range, ledger
    row) are written by one parameterised INSERT each, not by one script."""
    from reconcile.bq.adapter import param

    ds = f"{ds_prefix}a"
    adapter.create_dataset(ds, "us-central1")
    adapter.create_table(f"{ds}.t", [("id", "INT64", "NULLABLE")])
    insert = f"INSERT INTO {adapter.q(f'{ds}.t')} (id) VALUES (@n)"
    with pytest.raises(BigQueryError, match="Values were not provided"):
        adapter.execute(f"{insert};\n{insert};", location="us-central1", params=[param("n", 1)])
    adapter.execute(insert, location="us-central1", params=[param("n", 1)])
    assert adapter.count_rows(f"{ds}.t", location="us-central1") == 1
