"""Where the local BigQuery differs from BigQuery for views and failed queries
(found building the monitoring views; listed in docs/emulator.md)."""

from __future__ import annotations

import pytest

from reconcile.bq.adapter import Adapter
from reconcile.plan.compare.views import normalize_view_sql

pytestmark = pytest.mark.integration


def test_view_over_information_schema_reads_back_rewritten(adapter: Adapter, ds_prefix: str) -> None:
    """A view over dataset.INFORMATION_SCHEMA.PARTITIONS works when queried, but its
    definition reads back with the INFORMATION_SCHEMA reference replaced by the
    emulator's own subquery: the row-count view is a UNION ALL of COUNT(*) instead."""
    ds = f"{ds_prefix}p"
    adapter.create_dataset(ds, "us-central1")
    adapter.execute(f"CREATE TABLE `{adapter.project}.{ds}.t` (a INT64)")
    adapter.execute(f"INSERT INTO `{adapter.project}.{ds}.t` (a) VALUES (1), (2)")
    body = (f"SELECT table_name, SUM(total_rows) AS n FROM {ds}.INFORMATION_SCHEMA.PARTITIONS AS p "
            "GROUP BY table_name")
    adapter.execute(f"CREATE OR REPLACE VIEW `{adapter.project}.{ds}.counts` AS {body}")
    assert adapter.query(f"SELECT * FROM `{adapter.project}.{ds}.counts`") == [{"table_name": "t", "n": 2}]
    stored = adapter.view_definitions(ds)["counts"]
    assert "INFORMATION_SCHEMA.PARTITIONS" not in stored.upper().replace("`", "")
    assert normalize_view_sql(stored) != normalize_view_sql(body)


def test_schemata_query_fails_with_comment_lines_in_its_text(adapter: Adapter, ds_prefix: str) -> None:
    """The migration plan's location check (sql/checks/core_locations.sql) sent with its
    comment lines fails on the emulator (its SCHEMATA rewrite emits a creation time DuckDB
    cannot read); sent as every template is, comment lines dropped, it answers (issue 17)."""
    from reconcile.bq.adapter import BigQueryError, array_param
    from reconcile.bq.sqltext import qregion, render_sql, statement

    ds = f"{ds_prefix}core"
    adapter.create_dataset(ds, "us-central1")
    params = [array_param("core", "STRING", [ds])]
    with pytest.raises(BigQueryError, match="timestamp"):
        adapter.query(render_sql("checks/core_locations.sql", region=qregion("us-central1")), params,
                      location="us-central1")
    rows = adapter.query(statement("checks/core_locations.sql", region=qregion("us-central1")), params,
                         location="us-central1")
    assert rows == [{"schema_name": ds, "location": "us-central1"}]
