"""Emulator behaviours the executor depends on or works around (rows of docs/emulator.md).

Each test pins what bqemulator 1.4.0 does, so an upgrade that changes it fails here first.
"""

from __future__ import annotations

import pytest

from reconcile.bq.adapter import Adapter, BigQueryError

pytestmark = pytest.mark.integration


def _table(adapter: Adapter, ref: str, n: int) -> None:
    adapter.create_table(ref, [("id", "INT64", "NULLABLE"), ("name", "STRING", "NULLABLE")])
    adapter.execute(f"INSERT INTO {adapter.q(ref)} (id, name) VALUES "
                    + ", ".join(f"({i}, 'n{i}')" for i in range(n)))


def test_snapshot_table_parses_only_plain_and_first(adapter: Adapter, ds_prefix: str) -> None:
    ds = f"{ds_prefix}a"
    adapter.create_dataset(ds, "us-central1")
    _table(adapter, f"{ds}.t", 3)
    src, q = adapter.q(f"{ds}.t"), adapter.q
    adapter.execute(f"CREATE SNAPSHOT TABLE {q(ds + '.s1')} CLONE {src}")
    assert dict(adapter.list_tables(ds))["s1"] == "SNAPSHOT"
    assert adapter.count_rows(f"{ds}.s1") == 3
    with pytest.raises(BigQueryError, match="syntax error"):
        adapter.execute(f"CREATE SNAPSHOT TABLE {q(ds + '.s2')} CLONE {src} "
                        "OPTIONS(expiration_timestamp=TIMESTAMP_ADD(CURRENT_TIMESTAMP(), INTERVAL 90 DAY))")
    with pytest.raises(BigQueryError, match="syntax error"):
        adapter.execute(f"-- a comment first\nCREATE SNAPSHOT TABLE {q(ds + '.s3')} CLONE {src}")
    # The snapshot outlives its base table, as on BigQuery.
    adapter.delete_table(f"{ds}.t")
    assert adapter.count_rows(f"{ds}.s1") == 3


def test_copy_job_copies_a_view_into_a_table(adapter: Adapter, ds_prefix: str) -> None:
    ds = f"{ds_prefix}a"
    adapter.create_dataset(ds, "us-central1")
    _table(adapter, f"{ds}.t", 3)
    adapter.execute(f"CREATE VIEW {adapter.q(ds + '.v')} AS SELECT id FROM {adapter.q(ds + '.t')}")
    adapter.copy_table(f"{ds}.v", f"{ds}.v_copy")  # BigQuery: error, a view cannot be copied
    assert dict(adapter.list_tables(ds))["v_copy"] == "TABLE"


def test_content_checksum_and_null_safe_compare_work(adapter: Adapter, ds_prefix: str) -> None:
    ds = f"{ds_prefix}a"
    adapter.create_dataset(ds, "us-central1")
    _table(adapter, f"{ds}.a", 5)
    adapter.copy_table(f"{ds}.a", f"{ds}.b")
    sql = "SELECT BIT_XOR(FARM_FINGERPRINT(TO_JSON_STRING(t))) AS c FROM {} AS t"
    assert adapter.query(sql.format(adapter.q(ds + ".a"))) == adapter.query(sql.format(adapter.q(ds + ".b")))
    assert adapter.query("SELECT NULL IS DISTINCT FROM NULL AS a, 1 IS DISTINCT FROM NULL AS b") == \
        [{"a": False, "b": True}]


def test_views_view_definition_drops_quotes_and_rewrites_comments(adapter: Adapter, ds_prefix: str) -> None:
    from reconcile.plan.compare.views import normalize_view_sql as _norm_view_sql

    ds = f"{ds_prefix}a"
    adapter.create_dataset(ds, "us-central1")
    body = "SELECT 'a.b' AS x, 1 AS z -- trailing note\n"
    adapter.execute(f"CREATE OR REPLACE VIEW {adapter.q(ds + '.v')} AS {body}")
    stored = adapter.view_definitions(ds)["v"]
    assert stored == "SELECT a.b AS x, 1 AS z /* trailing note */"  # BigQuery: the text as written
    assert adapter.query(f"SELECT x FROM {adapter.q(ds + '.v')}") == [{"x": "a.b"}]  # the view is right
    assert _norm_view_sql(stored) == _norm_view_sql(body)


def test_to_json_string_of_a_struct_drops_field_names(adapter: Adapter) -> None:
    # BigQuery: '{"d":"2012-01-08","s":"SEATTLE_WA"}' (a STRUCT's fields are named after
    # its columns). The load checks count DISTINCT TO_JSON_STRING(STRUCT(keys)), where the
    # names do not matter; the keys-unique gate after a MERGE selects the key columns
    # themselves to name the offending keys (sql/apply/duplicate_keys.sql).
    rows = adapter.query("SELECT TO_JSON_STRING(STRUCT(d, s)) AS j FROM "
                         "(SELECT DATE '2012-01-08' AS d, 'SEATTLE_WA' AS s)")
    assert rows == [{"j": '{"":"2012-01-08","":"SEATTLE_WA"}'}]
