"""reconcile.report: what counts as drift, and the run's result Markdown. No BigQuery, no Prefect."""

from __future__ import annotations

import pytest

from reconcile.plan.actions import (
    CreateTable, FlagRecreate, MergeLoad, MissingSource, Plan, RefuseLoad, Unmanaged, Validate,
)
from reconcile.apply.executor import Outcome
from reconcile.render.markdown import render_markdown
from reconcile.render.result import (
    RunReport, assess, format_observed, render_drift_markdown, render_result_markdown, result_rows,
)

MISSING = MissingSource(table="raw.cftc", source="staging/cftc.parquet")
REFUSED = RefuseLoad(table="raw.av", source="staging/av.parquet", problems=("placeholder 'TODO' in symbol",))
FLAG = FlagRecreate(name="market_data", actual_location="US", desired_location="us-central1", tables=2, rows=10)


def plan(*actions) -> Plan:
    return Plan(project="cbi-v14", actions=tuple(actions), snapshot_taken_at="2025-11-19T12:00:00+00:00")


KNOWN = MissingSource(table="raw.cftc2", source="staging/cftc2.parquet", known_gap="no offline CFTC data")


@pytest.mark.parametrize("action, pile", [
    (CreateTable(table="m.t", columns=(("d", "DATE", "NULLABLE"),)), "drift"),
    (FLAG, "drift"),
    (Validate(table="m.t", checks=("min_rows",), blocked_by=(FLAG.key,)), "drift"),
    (MISSING, "drift"),
    (REFUSED, "drift"),
    (KNOWN, "known_gaps"),
    (Validate(table="raw.x", checks=("min_rows",), blocked_by=(MISSING.key, FLAG.key)), "drift"),
    (Unmanaged(object="legacy", object_type="dataset"), "unmanaged"),
])
def test_assess_sorts_each_action_into_one_pile(action, pile):
    a = assess(plan(MISSING, REFUSED, FLAG, action))
    piles = {name: getattr(a, name) for name in ("drift", "known_gaps", "unmanaged")}
    assert sum(action in p for p in piles.values()) == 1 and action in piles[pile]


def test_known_gaps_alone_are_not_drift_and_agree_with_the_exit_code():
    p = plan(KNOWN)
    a = assess(p)
    assert a.in_sync and a.summary() == "no drift" and a.counts() == {}
    assert p.exit_code() == 0
    p2 = plan(MISSING)  # the same problem, not declared a known gap on this target
    assert not assess(p2).in_sync and p2.exit_code() == 3


def test_counts_and_summary_per_kind():
    a = assess(plan(FLAG, CreateTable(table="m.a"), CreateTable(table="m.b")))
    assert a.counts() == {"CreateTable": 2, "FlagRecreate": 1}
    assert a.summary() == "3 difference(s): CreateTable 2, FlagRecreate 1"


def test_result_markdown_lists_each_object_with_outcome_observed_attempts_and_seconds():
    load = MergeLoad(table="m.prices", source="staging/p|x.parquet", content_hash="abc", rows=10, keys=("d",))
    outcomes = [Outcome(key=load.key, kind="MergeLoad", target="m.prices", status="done",
                        detail="merged 10 rows", observed={"rows_before": 0, "rows_after": 6380,
                                                           "sql": "MERGE …"}, seconds=1.234)]
    md = render_result_markdown(RunReport(
        title="Reconcile", project="cbi-v14", target="local", run_id="r1", converged=False,
        reason="not converged: m.a failed", outcomes=outcomes, after=assess(plan(KNOWN, FLAG)),
        attempts={load.key: 2}, timings={"snapshot": 0.5, "apply": 1.2},
        not_run=[CreateTable(table="m.later")]))
    assert md.startswith("# Reconcile: cbi-v14 — ✗ not converged")
    # One wrapping line per object (the UI clips wide tables); observed values and attempts in it.
    assert ("- `m.prices` · MergeLoad · ✓ done in 1.23 s: merged 10 rows "
            "(rows_before=0; rows_after=6,380; 2 attempts)") in md
    assert not [line for line in md.splitlines() if line.startswith("|")]
    assert "MERGE" not in md  # statements stay in the repository, not in the report
    assert "- `m.later` · CreateTable · … not run: it depends on a step that failed" in md
    assert "exit code" not in md  # CLI words stay in the CLI
    rows = result_rows(RunReport(title="Reconcile", project="cbi-v14", target="local", run_id="r1",
                                 converged=False, reason="", outcomes=outcomes, after=None,
                                 attempts={load.key: 2}, not_run=[CreateTable(table="m.later")]))
    assert rows == [{"object": "m.prices", "step": "MergeLoad", "outcome": "done", "detail": "merged 10 rows",
                     "observed": "rows_before=0; rows_after=6,380", "attempts": 2, "seconds": 1.23},
                    {"object": "m.later", "step": "CreateTable", "outcome": "not run",
                     "detail": "it depends on a step that failed", "observed": "", "attempts": 0,
                     "seconds": 0.0}]
    assert "**FlagRecreate** `market_data`" in md  # still different
    assert "## Known gaps on this target" in md and "raw.cftc2" in md and "no offline CFTC data" in md
    assert "**Timings:** snapshot 0.5s · apply 1.2s" in md


def test_drift_counts_the_declared_differences_and_lists_knock_on_steps_under_them():
    made = CreateTable(table="m.t")
    gate = Validate(table="m.t", checks=("min_rows",))
    load = MergeLoad(table="m.u", source="staging/u.parquet", content_hash="h", rows=1, keys=("d",),
                     blocked_by=(made.key,))
    p = plan(FLAG, made, gate, load)
    a = assess(p)
    assert a.knock_on() == {gate.key: made.key, load.key: made.key}
    assert [x.key for x in a.declared] == [FLAG.key, made.key]
    assert a.summary() == "2 difference(s): CreateTable 1, FlagRecreate 1 (and 2 step(s) that follow from them)"
    md = render_drift_markdown(p, a, target="local", run_id="r1", plan_markdown="PLAN")
    head = md.partition("## Plan")[0]
    lines = head.splitlines()
    i = next(n for n, line in enumerate(lines) if line.startswith("- **CreateTable** `m.t`"))
    assert lines[i + 1].startswith("  - then **Validate** `m.t`")
    assert lines[i + 2].startswith("  - then **MergeLoad** `m.u`")


def test_drift_markdown_names_each_difference_before_the_plan():
    p = plan(FLAG, CreateTable(table="m.t"), KNOWN)
    md = render_drift_markdown(p, assess(p), target="local", run_id="r1", plan_markdown="PLAN")
    head, _, rest = md.partition("## Plan")
    assert "**CreateTable** `m.t`" in head and "**FlagRecreate** `market_data`" in head
    assert "1 known gap(s) declared for this target" in head and rest.strip() == "PLAN"


def test_observed_values_are_compact():
    assert format_observed({"rows": 6380, "ok": True, "loc": "US", "steps": ["a", "b"], "x": None}) == \
        'rows=6,380; ok=true; loc=US; steps=["a", "b"]; x=none'


def test_plan_markdown_for_the_ui_has_no_wide_tables_and_no_exit_code():
    long = CreateTable(table="m." + "t" * 60, blocked_by=("a reason " * 20,))
    p = plan(FLAG, long, CreateTable(table="m.b"))
    ui = render_markdown(p, for_ui=True)
    pr = render_markdown(p)
    assert "exit code 3" in pr and "exit code" not in ui and "needs a decision" in ui
    wide = [line for line in ui.splitlines() if line.startswith("|") and line.count("|") > 5]
    assert not wide, wide  # only the four-number summary table stays a table
    assert f"`{long.table}`" in ui and "a reason a reason" in ui
