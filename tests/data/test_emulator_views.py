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
