"""`reconcile status` without the demo: its rendering (pure) and its answer when the
monitoring views do not exist yet (local BigQuery)."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from reconcile.spec.model import load_spec
from reconcile.monitor.status import (
    Section, Status, find_views, read_status, render_json, render_markdown, render_text,
)


def _status(**rows) -> Status:
    keys = ("row_counts", "coverage", "regimes", "ingestion", "expectations")
    return Status(project="p-roject", target="local", read_at="2025-11-19T12:00:00+00:00",
                  sections={k: Section(k, f"monitoring.{k}", tuple(rows.get(k, ()))) for k in keys})


ROWS = dict(
    row_counts=[{"table_ref": "a.t", "row_count": 1234}, {"table_ref": "a.u", "row_count": 0}],
    coverage=[{"table_ref": "a.t", "date_column": "date", "min_date": "2000-01-03",
               "max_date": "2018-12-31", "distinct_dates": 1234, "row_count": 1234}],
    regimes=[{"table_ref": "a.t", "regime": "calm", "row_count": 1234, "row_share": 1.0, "min_weight": 50,
              "max_weight": 50, "calendar_weight": 50, "in_calendar": True, "first_date": "2000-01-03"}],
    ingestion=[{"table_ref": "a.t", "source": "staging/t.parquet", "source_kind": "file", "loads": 2,
                "last_success_at": "2025-11-19T11:00:00+00:00", "last_rows": 1234, "failures": 0,
                "refusals": 0, "missing_runs": 0, "health": "ok"}],
    expectations=[{"table_ref": "a.t", "check_name": "all", "result": "passed",
                   "detail": "2 check(s) passed",
                   "checked_at": "2025-11-19T11:00:00+00:00", "history_results": 3, "history_runs": 2,
                   "history_since": "2025-11-18T11:00:00+00:00"}],
)


def test_healthy_status_renders_every_section() -> None:
    st = _status(**ROWS)
    text = render_text(st)
    assert st.exit_code == 0
    assert "  a.t    1,234  2000-01-03..2018-12-31           1,234\n" in text
    assert "  a.t    calm    1,234  100.0%       50        50  yes\n" in text
    for title in ("Tables", "Regime distribution", "Ingestion", "Expectations"):
        assert title in text
    assert "history: 3 results in 2 runs" in text
    assert text.rstrip().endswith("Healthy: every latest gate passed and every source loaded.")
    md = render_markdown(st)
    assert "| a.t | 1,234 | 2000-01-03..2018-12-31 | 1,234 |" in md
    assert json.loads(render_json(st))["healthy"] is True


def test_a_failed_gate_or_a_missing_source_needs_attention() -> None:
    rows = dict(ROWS)
    rows["expectations"] = [dict(ROWS["expectations"][0], result="failed", detail="min_rows: expected >= 9")]
    rows["ingestion"] = [dict(ROWS["ingestion"][0], health="missing", loads=0, missing_runs=1)]
    st = _status(**rows)
    assert st.exit_code == 3
    assert ("Needs attention: 1 failing gate result(s) on 1 table(s); 1 source(s) not ok (missing)."
            in render_text(st))


@pytest.mark.integration
def test_status_before_the_views_exist(adapter, ds_prefix, project_root) -> None:
    mon = f"{ds_prefix}mon"
    (project_root / "v.sql").write_text("SELECT 1 AS one\n", encoding="utf-8")
    views = "\n".join(f"  {mon}.{n}: {{sql: v.sql}}" for n in (
        "table_row_counts", "date_coverage", "regime_distribution", "ingestion_health", "data_quality"))
    spec = project_root / "desired_state" / "spec.yaml"
    spec.write_text(f"project: cbi-v14\ndefault_location: us-central1\nops_dataset: {mon}\n"
                    f"datasets:\n  {mon}: {{}}\nviews:\n{views}\n", encoding="utf-8")
    desired = load_spec(spec, root=project_root)
    assert all(find_views(desired).values())
    st = read_status(adapter, desired, now=dt.datetime(2025, 11, 19, tzinfo=dt.timezone.utc))
    assert {s.problem for s in st.sections.values()} == {"not created yet: run reconcile apply"}
    assert st.exit_code == 3
    assert "not created yet" in render_text(st)
