"""BigQuery's column-change rules (reconcile.plan.schema), one table for both callers:
the planner (live -> declared: add, accept or conflict) and the spec diff (old spec ->
new spec: destructive or not). Parametrized over one case per kind of change."""

from __future__ import annotations

import itertools

import pytest

from reconcile.plan import schema as S
from reconcile.plan.compare.tables import conflict_text
from reconcile.review.specdiff.differ import column_reasons

MODES = ("NULLABLE", "REQUIRED", "REPEATED")

# (old columns, new columns) -> (kind, planner says, spec diff says)
CASES = {
    "add nullable": ([], [("a", "INT64", "NULLABLE")], S.ADD, None, None),
    "add repeated": ([], [("a", "INT64", "REPEATED")], S.ADD, None, None),
    "add required": ([], [("a", "INT64", "REQUIRED")], S.ADD_REQUIRED,
                     "new column a is REQUIRED: existing rows have no value",
                     "new column a is REQUIRED: existing rows have no value"),
    "drop": ([("a", "STRING", "NULLABLE")], [], S.DROP,
             "column a is not in the spec: dropping it would lose data",
             "column a (STRING) dropped: BigQuery would lose its data"),
    "widen": ([("a", "INT64", "NULLABLE")], [("a", "NUMERIC", "NULLABLE")], S.WIDEN,
              "column a: type INT64 -> NUMERIC (a widening BigQuery allows with ALTER COLUMN; apply by hand)",
              "column a type INT64 -> NUMERIC: not an in-place change; the table must be rewritten"),
    "retype": ([("a", "STRING", "NULLABLE")], [("a", "INT64", "REQUIRED")], S.RETYPE,
               "column a: type STRING -> INT64",
               "column a type STRING -> INT64: not an in-place change; the table must be rewritten"),
    "relax": ([("a", "INT64", "REQUIRED")], [("a", "INT64", "NULLABLE")], S.RELAX, None, None),
    "tighten": ([("a", "INT64", "NULLABLE")], [("a", "INT64", "REQUIRED")], S.TIGHTEN,
                "column a: mode NULLABLE -> REQUIRED", "column a now REQUIRED: existing rows may hold NULL"),
    "remode": ([("a", "INT64", "NULLABLE")], [("a", "INT64", "REPEATED")], S.REMODE,
               "column a: mode NULLABLE -> REPEATED", None),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_one_rule_per_kind_of_change(case):
    old, new, kind, planner_says, specdiff_says = CASES[case]
    (change,) = S.compare_columns(old, new)
    assert change.kind == kind
    if planner_says is None:
        assert change.rule.planned in ("add", "accept")
    else:
        assert change.rule.planned == "conflict" and conflict_text(change) == planner_says
    as_dict = lambda cols: {n: {"type": t, "mode": m} for n, t, m in cols}  # noqa: E731
    assert column_reasons(as_dict(old), as_dict(new)) == ([specdiff_says] if specdiff_says else [])


def test_every_kind_has_a_rule_and_every_mode_pair_a_kind():
    assert set(S.RULES) == {S.ADD, S.ADD_REQUIRED, S.DROP, S.WIDEN, S.RETYPE, S.RELAX, S.TIGHTEN, S.REMODE}
    assert set(S.MODE_CHANGES) == {(a, b) for a, b in itertools.permutations(MODES, 2)}
    assert all(S.RULES[k].in_place for k in (S.ADD, S.RELAX, S.WIDEN))


def test_unchanged_columns_give_nothing_and_order_is_new_then_dropped():
    old = [("d", "DATE", "REQUIRED"), ("x", "INT64", "NULLABLE"), ("gone", "BOOL", "NULLABLE")]
    new = [("x", "FLOAT64", "NULLABLE"), ("d", "DATE", "REQUIRED"), ("n", "STRING", "NULLABLE")]
    assert [(c.kind, c.column) for c in S.compare_columns(old, new)] == [
        (S.WIDEN, "x"), (S.ADD, "n"), (S.DROP, "gone")]


def test_array_spellings_are_one_field():
    assert S.bigquery_field("ARRAY<int64>", "NULLABLE") == ("INT64", "REPEATED")
    assert S.bigquery_field("NUMERIC(10, 2)", "REQUIRED") == ("NUMERIC", "REQUIRED")
