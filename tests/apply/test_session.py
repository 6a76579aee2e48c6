"""The apply session's decisions, without BigQuery: the one restriction of a plan, and
the one verdict the CLI's exit code and the flows' final state are both read from."""

from __future__ import annotations

import pytest

from reconcile.apply.results import Outcome
from reconcile.apply.session import Applied, Scope, plan_exit_code, restrict_plan
from reconcile.plan.actions import (
    CreateDataset, CreateTable, FlagRecreate, MergeLoad, MissingSource, Plan, Unmanaged, Validate,
)

DS = CreateDataset(name="raw", location="us-central1")
TABLE = CreateTable(table="raw.prices", columns=(("date", "DATE", "REQUIRED"),))
LOAD = MergeLoad(table="raw.prices", source="staging/p.parquet", content_hash="h", rows=1, keys=("date",))
FLAG = FlagRecreate(name="mkt", actual_location="US", desired_location="us-central1", tables=1, rows=1)
GAP = MissingSource(table="raw.prices", source="staging/q.parquet", known_gap="no data on this target")
LISTED = Unmanaged(object="old.thing", object_type="TABLE")
GATE = Validate(table="raw.prices", checks=("min_rows(1)",))


def plan(*actions) -> Plan:
    return Plan(project="cbi-v14", actions=tuple(actions))


def outcome(a, status: str) -> Outcome:
    return Outcome(key=a.key, kind=a.kind, target=a.target, status=status, detail=status)


def kinds(p: Plan) -> list[str]:
    return [a.kind for a in p.actions]


@pytest.mark.parametrize("kinds_, only, expected", [
    (None, (), ["CreateDataset", "CreateTable", "MergeLoad", "FlagRecreate"]),
    (None, ("MergeLoad",), ["MergeLoad"]),  # --only KIND
    (None, ("raw",), ["CreateDataset", "CreateTable", "MergeLoad"]),  # --only DATASET
    (None, ("raw.prices",), ["CreateTable", "MergeLoad"]),
    (("CreateDataset", "CreateTable"), (), ["CreateDataset", "CreateTable"]),  # a flow's kinds
    (("CreateDataset", "CreateTable"), ("CreateTable",), ["CreateTable"]),
    (("CreateDataset",), ("MergeLoad",), []),  # kinds and only disjoint: nothing
    (("FlagRecreate",), ("raw",), []),
])
def test_one_restriction_for_only_and_flow_kinds(kinds_, only, expected) -> None:
    assert kinds(restrict_plan(plan(DS, TABLE, LOAD, FLAG), kinds_, only)) == expected


def test_scope_whole_keeps_the_approvals_only() -> None:
    s = Scope(approvals=("mkt",), allow_destructive=True, kinds=("MergeLoad",), only=("raw",), extra=(GATE,))
    assert s.whole() == Scope(approvals=("mkt",), allow_destructive=True)


def test_plan_exit_codes_follow_the_assessment() -> None:
    assert plan_exit_code(plan()) == 0
    assert plan_exit_code(plan(GAP, LISTED)) == 0  # a known gap and an unmanaged object: in sync
    assert plan_exit_code(plan(DS)) == 2
    assert plan_exit_code(plan(DS, FLAG)) == 3
    for p in (plan(), plan(GAP, LISTED), plan(DS), plan(DS, FLAG)):
        assert plan_exit_code(p) == p.exit_code()


def applied(before: Plan, outcomes=(), after: Plan | None = plan(), **kw) -> Applied:
    return Applied(project="cbi-v14", run_id="r", plan=before, outcomes=tuple(outcomes), after=after, **kw)


CASES = {
    "converged": (applied(plan(DS), [outcome(DS, "done")]), 0, True, "converged: 1 action(s) applied"),
    "changes left": (applied(plan(DS), [outcome(DS, "done")], after=plan(TABLE)), 2, False,
                     "not converged after 1 action(s): 1 difference(s): CreateTable 1"),
    "flag left": (applied(plan(DS), [outcome(DS, "done")], after=plan(FLAG)), 3, False, "not converged"),
    "gate failed": (applied(plan(GATE), [outcome(GATE, "failed")]), 3, False,
                    "not converged: Validate:raw.prices failed"),
    "action failed": (applied(plan(DS, TABLE), [outcome(DS, "failed"), outcome(TABLE, "blocked")]), 1, False,
                      "not converged: CreateDataset:raw failed: failed; 1 later action(s) that depend on it not run"),
    "busy": (applied(plan(DS), [], after=None, failure="another apply holds the lease"), 1, False,
             "not applied: another apply holds the lease"),
    "nothing to apply": (applied(plan(GAP), [outcome(GAP, "skipped")], after=None), 0, True,
                         "in sync: nothing to apply on cbi-v14; 1 known gap(s)"),
    "nothing to apply, blocked": (applied(plan(FLAG), [outcome(FLAG, "skipped")], after=None), 3, False,
                                  "not converged after 0 action(s)"),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_one_verdict_exit_code_and_flow_state_agree(name: str) -> None:
    a, code, converged, reason = CASES[name]
    assert a.exit_code == code
    assert a.converged is converged
    assert (a.exit_code == 0) == a.converged  # the CLI exits 0 iff the flow would be Completed
    assert a.reason.startswith(reason), a.reason


def test_a_dry_run_is_judged_by_its_plan_and_never_converges() -> None:
    a = applied(plan(DS), [outcome(DS, "dry-run")], after=None, dry_run=True)
    assert a.exit_code == 2 and not a.converged
    assert a.reason == "dry run: 1 change(s) would run on cbi-v14; nothing was changed"


def test_report_lists_changes_that_ran_then_what_the_plan_held_back() -> None:
    a = applied(plan(DS, TABLE, FLAG, LISTED),
                [outcome(DS, "failed"), outcome(TABLE, "blocked"), outcome(FLAG, "skipped"),
                 outcome(LISTED, "skipped")])
    assert [o.key for o in a.reported()] == [DS.key, FLAG.key]
    assert a.not_run == (TABLE,)
