"""Apply: tables from a DDL file, added columns, transforms recorded by fingerprint."""

from __future__ import annotations

from pathlib import Path

import pytest

from apply_helpers import VIX_COLUMNS, apply_plan, assert_converged, copy_staging, make_plan, statuses, write_spec
from reconcile.bq.adapter import Adapter
from reconcile.plan.names import transform_fingerprint

pytestmark = pytest.mark.integration


def spec_text(p: str, vix_columns: str = VIX_COLUMNS) -> str:
    return f"""\
        version: 1
        project: cbi-v14
        default_location: us-central1
        ops_dataset: {p}ops
        datasets:
          {p}raw: {{}}
          {p}sig: {{}}
          {p}ops: {{}}
        tables:
          {p}raw.vix_daily: {{columns: {vix_columns}}}
          {p}sig.news_signals: {{ddl: sql/ddl/news.sql}}
        loads:
          - {{source: staging/vix_daily.parquet, table: {p}raw.vix_daily, keys: [date], min_rows: 1000}}
        transforms:
          vix_monthly:
            sql: sql/transforms/vix_monthly.sql
            inputs: [{p}raw.vix_daily]
            outputs: [{p}sig.vix_monthly]
            # It rebuilds its output: replacing the rows is named (issue 18), or a rerun is refused.
            allow: ["CREATE OR REPLACE TABLE {p}sig.vix_monthly"]
        expectations:
          "{p}sig.vix_monthly":
            min_rows: 12
            ranges: {{avg_close: {{min: 5, max: 100}}}}
        """


def files(p: str) -> dict[str, str]:
    return {
        "sql/ddl/news.sql": (
            "-- news signals, created as written\n"
            f"CREATE TABLE IF NOT EXISTS `{p}sig.news_signals` (\n"
            "  date DATE NOT NULL,\n  signal_name STRING NOT NULL,\n  score FLOAT64\n)\n"
            "OPTIONS (description = \"signals from news\");\n"),
        # Two statements, run as one script job.
        "sql/transforms/vix_monthly.sql": (
            f"CREATE OR REPLACE TABLE `{p}sig.vix_monthly` AS\n"
            "SELECT DATE_TRUNC(date, MONTH) AS month, AVG(vix_close) AS avg_close, COUNT(*) AS days\n"
            f"FROM `{p}raw.vix_daily` GROUP BY month;\n"
            f"DELETE FROM `{p}sig.vix_monthly` WHERE days = 0;\n"),
    }


def test_ddl_table_transform_and_added_column_converge(adapter: Adapter, ds_prefix: str, project_root: Path,
                                                       staging_src: Path) -> None:
    p = ds_prefix
    copy_staging(staging_src, project_root, ["vix_daily.parquet"])
    desired = write_spec(project_root, spec_text(p), files(p))
    plan, _ = make_plan(adapter, desired)
    assert [a.kind for a in plan.changes] == ["CreateDataset"] * 3 + ["CreateTable"] * 2 + \
        ["MergeLoad", "RunTransform", "Validate", "Validate"]
    result = apply_plan(adapter, desired, plan)
    assert result.ok, [(o.key, o.detail) for o in result.outcomes if o.status != "done"]
    schema = adapter.get_schema(f"{p}sig.news_signals")
    assert [(f.name, f.mode) for f in schema] == [("date", "REQUIRED"), ("signal_name", "REQUIRED"),
                                                  ("score", "NULLABLE")]
    tr = result.by_key()["RunTransform:vix_monthly"]
    months = adapter.count_rows(f"{p}sig.vix_monthly")
    assert tr.observed["outputs"] == {f"{p}sig.vix_monthly": months} and months >= 12
    assert tr.observed["fingerprint"] == transform_fingerprint([f"{p}raw.vix_daily"], {f"{p}raw.vix_daily": 1259})
    ledger = adapter.query(f"SELECT table_ref, source, content_hash FROM {adapter.q(p + 'ops.load_ledger')} "
                           "WHERE source = 'transform:vix_monthly'")
    assert ledger == [{"table_ref": f"{p}sig.vix_monthly", "source": "transform:vix_monthly",
                       "content_hash": tr.observed["fingerprint"]}]
    assert_converged(adapter, desired)

    # The same plan again: what exists is left alone; the transform reruns (it is written
    # to be rerun) and leaves the same rows.
    again = apply_plan(adapter, desired, plan)
    assert statuses(again)[f"CreateTable:{p}sig.news_signals"] == "noop"
    assert statuses(again)[f"MergeLoad:{p}raw.vix_daily<-staging/vix_daily.parquet"] == "noop"
    assert statuses(again)["RunTransform:vix_monthly"] == "done"
    assert adapter.count_rows(f"{p}sig.vix_monthly") == months

    # A nullable column declared later is added in place; the data stays.
    wider = VIX_COLUMNS.replace("]", ", {name: note, type: STRING}]")
    desired = write_spec(project_root, spec_text(p, wider), files(p))
    plan, _ = make_plan(adapter, desired)
    # The planner re-runs what reads the widened table, and its gates.
    assert [a.kind for a in plan.changes] == ["AddColumns", "RunTransform", "Validate", "Validate"]
    result = apply_plan(adapter, desired, plan)
    assert result.ok and statuses(result)[f"AddColumns:{p}raw.vix_daily"] == "done"
    assert [f.name for f in adapter.get_schema(f"{p}raw.vix_daily")] == ["date", "vix_close", "note"]
    assert adapter.count_rows(f"{p}raw.vix_daily") == 1259
    assert_converged(adapter, desired)


def test_declared_column_descriptions_reach_the_table(adapter: Adapter, ds_prefix: str, project_root: Path) -> None:
    """Issue 18: column descriptions in the spec were silently dropped when the tool created
    the table; they are now part of the CreateTable and of the created schema."""
    p = ds_prefix
    desired = write_spec(project_root, f"""\
        version: 1
        project: cbi-v14
        default_location: us-central1
        ops_dataset: {p}ops
        datasets:
          {p}raw: {{}}
          {p}ops: {{}}
        tables:
          {p}raw.vix_daily:
            columns:
              - {{name: date, type: DATE, mode: REQUIRED, description: "trading day (exchange calendar)"}}
              - {{name: vix_close, type: FLOAT64}}
        """)
    plan, _ = make_plan(adapter, desired)
    create = next(a for a in plan.changes if a.kind == "CreateTable")
    assert create.column_descriptions == (("date", "trading day (exchange calendar)"),)
    assert apply_plan(adapter, desired, plan).ok
    schema = {f.name: f.description for f in adapter.get_schema(f"{p}raw.vix_daily")}
    assert schema == {"date": "trading day (exchange calendar)", "vix_close": None}
    assert_converged(adapter, desired)
