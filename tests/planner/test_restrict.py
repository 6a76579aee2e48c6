"""Single-flow runs (`restrict`): a step whose table only a left-out step would make is
blocked with that reason at plan time, never failed at apply ("table not found"). No BigQuery.

Issue 15: `validate/validate` with a table missing ended in an ActionError and a traceback.
"""

from __future__ import annotations

from test_scenarios import run_case

from reconcile.plan.actions import CreateTable, MergeLoad, Validate
from reconcile.plan.planner import restrict


def test_validate_alone_on_a_table_not_yet_created_is_blocked_naming_the_step():
    whole = run_case("empty_project")
    created = {a.table for a in whole.actions if isinstance(a, CreateTable)}
    validates = [a for a in whole.actions if isinstance(a, Validate) and a.table in created]
    assert validates, "the scenario must validate a table the plan creates"
    only = restrict(whole, kinds=["Validate"])
    for a in only.actions:
        if isinstance(a, Validate) and a.table in created:
            assert a.is_blocked
            assert any(f"CreateTable {a.table} makes it" in b and "not in this run" in b for b in a.blocked_by), \
                a.blocked_by
    assert not [a for a in only.changes if isinstance(a, Validate) and a.table in created]


def test_load_alone_into_a_missing_table_is_blocked_and_with_its_create_step_it_is_not():
    whole = run_case("empty_project")
    loads = [a for a in whole.changes if isinstance(a, MergeLoad)]
    assert loads
    alone = restrict(whole, kinds=["MergeLoad"])
    assert all(a.is_blocked for a in alone.actions if isinstance(a, MergeLoad))
    with_create = restrict(whole, kinds=["CreateDataset", "CreateTable", "MergeLoad"])
    assert {a.key for a in with_create.changes if isinstance(a, MergeLoad)} == {a.key for a in loads}
