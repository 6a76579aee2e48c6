"""`reconcile status` without the demo: its rendering and its judgement (pure), its answer
when the monitoring views do not exist yet, and a real run on the local BigQuery whose
status and run result are checked against what happened and against docs/schemas.

What status must say, truthfully: "Healthy" only when nothing is missing, failing or
unchecked; a gate or source the target declared a known gap is shown as one, with its
reason, never as "passed"; a gate that checked nothing is "no checks", never "passed".
"""

from __future__ import annotations

import datetime as dt
import json
import typing
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from jsonschema import Draft202012Validator

from reconcile.apply.results import new_run_id
from reconcile.apply.session import Session
from reconcile.demo import sqlgen
from reconcile.monitor.report import render_json, render_markdown, render_text
from reconcile.monitor.status import (
    GATE_ORDER, UNCHECKED, Section, Status, find_views, gated_tables, read_status,
)
from reconcile.render.schemas import GateState
from reconcile.render.run_result import render_run_result
from reconcile.spec.load import load_spec
from reconcile.spec.model import KnownGap

ROOT = Path(__file__).resolve().parents[2]
KEYS = ("row_counts", "coverage", "regimes", "ingestion", "expectations")


def _status(gaps: tuple[KnownGap, ...] = (), gated: tuple[str, ...] = (),
            loads: tuple[tuple[str, str], ...] = (), **rows) -> Status:
    return Status(project="p-roject", target="local", read_at="2025-11-19T12:00:00+00:00",
                  sections={k: Section(k, f"monitoring.{k}", tuple(rows.get(k, ()))) for k in KEYS},
                  known_gap_rules=gaps, gated=gated, declared_loads=loads)


def _gate(**over) -> dict:
    return dict(ROWS["expectations"][0], **over)


def _source(**over) -> dict:
    return dict(ROWS["ingestion"][0], **over)


ROWS = dict(
    row_counts=[{"table_ref": "a.t", "row_count": 1234}, {"table_ref": "a.u", "row_count": 0}],
    coverage=[{"table_ref": "a.t", "date_column": "date", "min_date": "2000-01-03",
               "max_date": "2018-12-31", "distinct_dates": 1234, "row_count": 1234}],
    regimes=[{"table_ref": "a.t", "regime": "calm", "row_count": 1234, "row_share": 1.0, "min_weight": 50,
              "max_weight": 50, "calendar_weight": 50, "in_calendar": True, "first_date": "2000-01-03"}],
    ingestion=[{"table_ref": "a.t", "source": "staging/t.parquet", "source_kind": "file", "loads": 2,
                "last_success_at": "2025-11-19T11:00:00+00:00", "last_rows": 1234, "failures": 0,
                "refusals": 0, "missing_runs": 0, "health": "ok"}],
    expectations=[{"table_ref": "a.t", "check_name": "all", "kind": "Validate", "result": "passed",
                   "detail": "2 check(s) passed",
                   "observed": json.dumps({"observed": {"min_rows": "1,234", "coverage(date)": "2000..2018"}}),
                   "checked_at": "2025-11-19T11:00:00+00:00", "history_results": 3, "history_runs": 2,
                   "history_since": "2025-11-18T11:00:00+00:00"}],
)
GAPS = (KnownGap(object="a.t", check="min_rows", reason="the public set is smaller"),
        KnownGap(object="a.*", check="missing_source", reason="no offline source"))


def test_healthy_status_renders_every_section() -> None:
    st = _status(gated=("a.t",), loads=(("a.t", "staging/t.parquet"),), **ROWS)
    text = render_text(st)
    assert st.exit_code == 0 and st.healthy
    assert "  a.t    1,234  2000-01-03..2018-12-31           1,234  passed\n" in text
    assert "  a.u        0  -                                    -  -\n" in text  # no gate declared
    assert "  a.t    calm    1,234  100.0%       50        50  yes\n" in text
    for title in ("Tables", "Regime distribution", "Ingestion", "Expectations"):
        assert title in text
    assert "Known gaps" not in text
    assert "history: 3 results in 2 runs" in text
    assert text.rstrip().endswith("Healthy: every latest gate passed and every source loaded.")
    md = render_markdown(st)
    assert "| a.t | 1,234 | 2000-01-03..2018-12-31 | 1,234 | passed |" in md
    doc = json.loads(render_json(st))
    assert (doc["schema_version"], doc["healthy"], doc["needs_attention"], doc["exit_code"]) == (1, True, False, 0)
    assert doc["views"]["expectations"]["rows"][0]["gate"] == "passed"


def test_a_failed_gate_or_a_missing_source_needs_attention() -> None:
    rows = dict(ROWS, expectations=[_gate(result="failed", detail="min_rows: expected >= 9")],
                ingestion=[_source(health="missing", loads=0, missing_runs=1)])
    st = _status(**rows)
    assert st.exit_code == 3 and not st.healthy
    assert ("Needs attention: 1 failing gate result(s) on 1 table(s); 1 source(s) not ok (missing)."
            in render_text(st))


def test_a_gate_that_passed_only_because_of_a_known_gap_is_a_known_gap_not_passed() -> None:
    # As the Validate handler records it: the known gap warned, the action is done, and
    # the data_quality view says "passed". Before: shown "passed", status "Healthy".
    detail = "0 check(s) passed; 1 known gap(s): min_rows observed 5 (the public set is smaller)"
    st = _status(GAPS, **dict(ROWS, expectations=[_gate(
        detail=detail, observed=json.dumps({"observed": {"min_rows": "5"}}))]))
    assert st.exit_code == 0 and not st.healthy  # declared: not blocking, but not healthy
    text = render_text(st)
    assert "  a.t    all    known gap" in text and " passed " not in text.split("Expectations")[1]
    assert "  a.t    1,234  2000-01-03..2018-12-31           1,234  known gap\n" in text
    assert "Known gaps (declared for target local: reported every run, not blocking)" in text
    assert "  a.t     min_rows  known gap: the public set is smaller\n" in text
    assert text.rstrip().endswith("Not healthy, nothing needs attention: "
                                  "1 known gap(s) declared for target local (1 failing check(s)).")
    assert "Healthy:" not in text
    doc = st.to_dict()
    assert doc["known_gaps"] == [{"object": "a.t", "check": "min_rows", "reason": "the public set is smaller"}]
    assert doc["views"]["expectations"]["rows"][0]["gate"] == "known gap"
    assert doc["views"]["expectations"]["rows"][0]["result"] == "passed"  # the view's own value, kept


def test_a_check_failing_on_a_declared_gap_is_a_known_gap_and_any_other_fails() -> None:
    # A later run records each failing check (ExpectationFailed, "failed" in the view).
    # Before: "Needs attention: 2 failing gate result(s)", exit 3, although the plan is in sync.
    gap = _gate(kind="ExpectationFailed", check_name="min_rows", result="failed",
                detail="min_rows: expected >= 9,438, observed 1,461")
    other = _gate(kind="ExpectationFailed", check_name="min_distinct(regime)", result="failed",
                  detail="min_distinct(regime): expected >= 7, observed 3")
    assert _status(GAPS, **dict(ROWS, expectations=[gap])).exit_code == 0
    st = _status(GAPS, **dict(ROWS, expectations=[gap, other]))
    assert st.exit_code == 3
    assert [r["gate"] for r in st.expectation_rows()] == ["known gap", "failed"]
    assert st.table_gates() == {"a.t": "failed"}  # the worst of the table's latest results
    assert st.summary() == ("Needs attention: 1 failing gate result(s) on 1 table(s); also 1 known gap(s) "
                            "declared for target local (1 failing check(s)).")


def test_a_missing_source_declared_a_known_gap_is_shown_as_one_with_its_reason() -> None:
    st = _status(GAPS, **dict(ROWS, ingestion=[_source(health="missing", loads=0, missing_runs=2)]))
    assert st.exit_code == 0 and not st.healthy
    text = render_text(st)
    assert "every source loaded" not in text
    assert "  a.t     missing_source  known gap: no offline source\n" in text
    assert st.ingestion_rows()[0]["health"] == "known gap"
    assert st.summary() == ("Not healthy, nothing needs attention: 1 known gap(s) declared for target "
                            "local (1 missing source(s)).")


def test_a_gate_with_no_checks_is_not_passed() -> None:
    # Before: "passed" with detail "0 check(s) passed", and "Healthy".
    st = _status(**dict(ROWS, expectations=[_gate(detail="0 check(s) passed",
                                                  observed=json.dumps({"observed": {}}))]))
    assert st.table_gates() == {"a.t": "no checks"}
    assert st.exit_code == 0 and not st.healthy
    assert "  a.t    all    no checks" in render_text(st)
    assert st.summary() == "Not healthy, nothing needs attention: 1 table(s) whose latest gate had no checks (a.t)."
    assert st.to_dict()["unchecked"] == [{"table": "a.t", "gate": "no checks",
                                         "detail": "the latest gate checked nothing"}]


def test_a_blocked_gate_is_not_checked_and_needs_attention() -> None:
    # Before: ignored ("Healthy: every latest gate passed").
    st = _status(**dict(ROWS, expectations=[_gate(result="not_checked", detail="blocked by MergeLoad:a.t<-x")]))
    assert st.table_gates() == {"a.t": "not checked"}
    assert st.exit_code == 3
    assert st.summary() == "Needs attention: 1 table(s) whose latest gate was blocked, not checked (a.t)."


def test_a_gated_table_no_run_has_checked_is_never_checked() -> None:
    st = _status(gated=("a.t", "a.u"), **ROWS)
    assert st.table_gates() == {"a.t": "passed", "a.u": "never checked"}
    assert st.exit_code == 0 and not st.healthy
    assert st.summary() == ("Not healthy, nothing needs attention: 1 table(s) gated by the spec and never "
                            "checked (a.u).")
    unreadable = _status(gated=("a.u",), **ROWS)
    unreadable.sections["expectations"] = Section("expectations", "monitoring.expectations", problem="boom")
    assert unreadable.table_gates() == {}  # the unreadable view is the problem, not the tables


def test_a_declared_source_never_loaded_needs_attention_unless_a_known_gap() -> None:
    loads = (("a.t", "staging/t.parquet"), ("a.u", "staging/u.parquet"))
    st = _status(loads=loads, **ROWS)
    assert st.exit_code == 3
    assert st.summary() == "Needs attention: 1 declared source(s) never loaded (a.u <- staging/u.parquet)."
    gap = _status(GAPS, loads=loads, **ROWS)
    assert gap.exit_code == 0 and not gap.healthy
    assert gap.known_gaps() == [{"object": "a.u", "check": "missing_source", "reason": "no offline source"}]


def test_the_gate_states_are_the_schemas() -> None:
    assert set(GATE_ORDER) | set(UNCHECKED) == set(typing.get_args(GateState))


def test_gated_tables_are_the_named_tables_with_a_gate() -> None:
    desired = load_spec(ROOT / "desired_state" / "cbi-v14.yaml")
    gated = gated_tables(desired)
    assert "features.master_features" in gated and "raw_intelligence.cftc_commitments" in gated  # floor
    assert "ops.run_records" not in gated and "market_data.vix_daily" not in gated  # no gate declared


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
    assert _schema_errors("status.schema.json", json.loads(render_json(st))) == []


# ---------------------------------------------------------------- a real run


def _schema_errors(name: str, doc: object) -> list[str]:
    schema = json.loads((ROOT / "docs" / "schemas" / name).read_text(encoding="utf-8"))
    v = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in v.iter_errors(doc)]


def _cols(*cols: str) -> str:
    """YAML flow list of columns from "name:TYPE" or "name:TYPE:REQUIRED"."""
    out = []
    for c in cols:
        name, typ, *mode = c.split(":")
        out.append(f"{{name: {name}, type: {typ}" + (f", mode: {mode[0]}" if mode else "") + "}")
    return "[" + ", ".join(out) + "]"


def _real_warehouse(root: Path, p: str):
    """A small spec with the real ops tables and data-quality / ingestion views (their SQL
    from sql/views, pointed at this test's ops dataset), row counts and date coverage
    generated by reconcile.demo.sqlgen, one staging file, and one declared source the
    local target cannot have (a known gap: the missing file, and the row floor)."""
    ops, raw, mon = f"{p}ops", f"{p}raw", f"{p}mon"
    (root / "sql" / "views").mkdir(parents=True)
    for name in ("data_quality", "ingestion_health"):
        text = (ROOT / "sql" / "views" / f"{name}.sql").read_text(encoding="utf-8")
        (root / "sql" / "views" / f"{name}.sql").write_text(
            text.replace("ops.run_records", f"{ops}.run_records").replace("ops.load_ledger", f"{ops}.load_ledger"),
            encoding="utf-8")
    (root / "sql" / "views" / "regime_distribution.sql").write_text(
        f"SELECT '{raw}.prices' AS table_ref, symbol AS regime, COUNT(*) AS row_count, 1.0 AS row_share, "
        f"50 AS min_weight, 50 AS max_weight, 50 AS calendar_weight, TRUE AS in_calendar, "
        f"MIN(date) AS first_date, MAX(date) AS last_date FROM {raw}.prices GROUP BY symbol\n", encoding="utf-8")
    for name in ("table_row_counts", "date_coverage"):
        (root / "sql" / "views" / f"{name}.sql").write_text("SELECT 1 AS placeholder\n", encoding="utf-8")
    (root / "staging").mkdir()
    pq.write_table(pa.table({"date": pa.array([dt.date(2025, 1, d) for d in (2, 3, 6)], pa.date32()),
                             "symbol": ["ZL", "ZL", "ZL"], "close": [41.2, 41.9, 42.3]}),
                   root / "staging" / "prices.parquet")
    run_records = _cols("run_id:STRING", "started_at:TIMESTAMP", "finished_at:TIMESTAMP", "action_key:STRING",
                        "kind:STRING", "target:STRING", "status:STRING", "detail:STRING", "observed:STRING",
                        "seconds:FLOAT64")
    ledger = _cols("table_ref:STRING", "source:STRING", "content_hash:STRING", "rows:INT64",
                   "rows_inserted:INT64", "rows_updated:INT64", "loaded_at:TIMESTAMP", "run_id:STRING")
    views = "\n".join(f"  {mon}.{n}: {{sql: sql/views/{n}.sql}}" for n in (
        "data_quality", "ingestion_health", "table_row_counts", "date_coverage", "regime_distribution"))
    spec = root / "desired_state" / "spec.yaml"
    spec.write_text(f"""\
project: cbi-v14
default_location: us-central1
ops_dataset: {ops}
staging_dir: staging
targets:
  local:
    type: local
    known_gaps:
      - {{object: {raw}.cftc, check: missing_source, reason: "CFTC has no offline source"}}
      - {{object: {raw}.cftc, check: min_rows, reason: "no CFTC data offline"}}
datasets:
  {ops}: {{}}
  {raw}: {{}}
  {mon}: {{}}
tables:
  {ops}.run_records: {{columns: {run_records}}}
  {ops}.load_ledger: {{columns: {ledger}}}
  {raw}.prices: {{columns: {_cols("date:DATE:REQUIRED", "symbol:STRING:REQUIRED", "close:FLOAT64")}}}
  {raw}.cftc: {{columns: {_cols("report_date:DATE:REQUIRED", "code:STRING:REQUIRED")}}}
  {raw}.notes: {{columns: {_cols("note:STRING")}}}
views:
{views}
loads:
  - {{source: staging/prices.parquet, table: {raw}.prices, keys: [date, symbol], min_rows: 3}}
  - {{source: staging/cftc.parquet, table: {raw}.cftc, keys: [report_date, code], min_rows: 5}}
""", encoding="utf-8")
    desired = load_spec(spec, root=root)
    (root / "sql" / "views" / "table_row_counts.sql").write_text(sqlgen.render_row_counts(desired), encoding="utf-8")
    (root / "sql" / "views" / "date_coverage.sql").write_text(sqlgen.render_date_coverage(desired), encoding="utf-8")
    return load_spec(spec, root=root)


@pytest.mark.integration
def test_a_real_run_status_and_result_are_truthful_and_match_the_schemas(adapter, ds_prefix, project_root) -> None:
    p = ds_prefix
    desired = _real_warehouse(project_root, p)
    session = Session(desired, adapter, run_id=new_run_id(), target="local")
    started = dt.datetime.now(dt.timezone.utc).isoformat()
    applied = session.apply(session.plan())
    finished = dt.datetime.now(dt.timezone.utc).isoformat()
    by_key = {o.key: o for o in applied.outcomes}
    assert by_key[f"MergeLoad:{p}raw.prices<-staging/prices.parquet"].status == "done"
    assert by_key[f"MissingSource:{p}raw.cftc<-staging/cftc.parquet"].status == "skipped"
    assert "known gap" in by_key[f"Validate:{p}raw.cftc"].detail  # what the gate handler records
    assert applied.converged, applied.reason

    # The run result, from the run's real Outcome objects.
    doc = json.loads(render_run_result(
        project=desired.project, target="local", run_id=applied.run_id, dry_run=applied.dry_run,
        started_at=started, finished_at=finished, outcomes=applied.reported(), exit_code=applied.exit_code,
        converged=applied.converged, reason=applied.reason, after=applied.assessment, not_run=applied.not_run))
    assert _schema_errors("result.schema.json", doc) == []
    assert doc["exit_code"] == 0 and doc["after"]["in_sync"] and doc["after"]["known_gaps"] >= 1
    assert sum(doc["counts"].values()) == len(doc["results"]) == len(applied.reported())

    # The status, read from the monitoring views over what the run recorded.
    st = read_status(adapter, desired, target="local")
    assert st.problems() == []
    status = json.loads(render_json(st))
    assert _schema_errors("status.schema.json", status) == []
    gates = {t["table"]: t["gate"] for t in status["tables"]}
    assert gates[f"{p}raw.prices"] == "passed"
    assert gates[f"{p}raw.cftc"] == "known gap"  # 0 checks passed, 1 known gap: never "passed"
    assert gates[f"{p}raw.notes"] is None  # no gate declared
    assert {(g["object"], g["check"]) for g in status["known_gaps"]} == {
        (f"{p}raw.cftc", "missing_source"), (f"{p}raw.cftc", "min_rows")}
    health = {r["source"]: r["health"] for r in status["views"]["ingestion"]["rows"]}
    assert health == {"staging/prices.parquet": "ok", "staging/cftc.parquet": "known gap"}
    assert (status["healthy"], status["needs_attention"], status["exit_code"]) == (False, False, 0)
    text = render_text(st)
    assert "Healthy" not in text and "every source loaded" not in text
    assert "known gap: CFTC has no offline source" in text
    assert text.rstrip().endswith("Not healthy, nothing needs attention: 2 known gap(s) declared for target "
                                  "local (1 missing source(s), 1 failing check(s)).")
