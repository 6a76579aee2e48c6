"""Tables: create the missing ones, add the columns BigQuery can add in place, flag
every other difference as a schema conflict for a human.

What counts as compatible is BigQuery's rule table in `reconcile.plan.schema`; this
module only words the conflicts. Reads `blockers()` (a dataset flagged by
datasets); adds `managed_tables`, `touched` (created or altered tables) and
`blocked_tables` (a conflict blocks what would write to the table). Pure.
"""

from __future__ import annotations

from reconcile.plan.actions import AddColumns, CreateTable, FlagSchemaConflict
from reconcile.plan.schema import (
    ADD_REQUIRED, DROP, RETYPE, WIDEN, ColumnChange, bigquery_field, compare_columns,
)
from reconcile.plan.state import PlanInputs, PlanState


def conflict_text(c: ColumnChange) -> str:
    """How a schema conflict reads in the plan (live column -> declared column)."""
    if c.kind == ADD_REQUIRED:
        return f"new column {c.column} is REQUIRED: existing rows have no value"
    if c.kind == DROP:
        return f"column {c.column} is not in the spec: dropping it would lose data"
    (ltyp, lmode), (typ, mode) = c.old, c.new  # type: ignore[misc]
    if c.kind == WIDEN:
        return (f"column {c.column}: type {ltyp} -> {typ} "
                "(a widening BigQuery allows with ALTER COLUMN; apply by hand)")
    if c.kind == RETYPE:
        return f"column {c.column}: type {ltyp} -> {typ}"
    return f"column {c.column}: mode {lmode} -> {mode}"


def compare(inp: PlanInputs, state: PlanState) -> None:
    d, s = inp.desired, inp.snapshot
    for ref in sorted(d.tables):
        t = d.tables[ref]
        state.managed_tables.add(ref)
        want = d.columns_of(ref) or []
        live = s.tables.get(ref)
        if live is None:
            state.add(CreateTable(table=ref, ddl_file=t.ddl, columns=tuple(want),
                                  partition_by=t.partition_by,
                                  partition_granularity=t.partition_granularity,
                                  cluster_by=tuple(t.cluster_by),
                                  description=t.description, labels=tuple(sorted(t.labels.items())),
                                  column_descriptions=tuple((c.name, c.description) for c in t.columns or ()
                                                            if c.description),
                                  blocked_by=state.blockers(ref)))
            state.touched.add(ref)
            continue
        if live.type != "TABLE":
            a = state.add(FlagSchemaConflict(table=ref, changes=(f"exists as a {live.type}, declared as a table",),
                                             rows=live.rows or 0))
            state.blocked_tables[ref] = a.key
            continue
        if live.columns is None:
            continue  # columns not read (offline snapshot without them): nothing to compare
        changes = compare_columns([(c.name, *bigquery_field(c.type, c.mode)) for c in live.columns],
                                  [(n, *bigquery_field(ty, m)) for n, ty, m in want])
        conflicts = [conflict_text(c) for c in changes if c.rule.planned == "conflict"]
        added = [(c.column, *c.new) for c in changes if c.rule.planned == "add"]  # type: ignore[misc]
        if conflicts:
            a = state.add(FlagSchemaConflict(table=ref, changes=tuple(conflicts), rows=live.rows or 0,
                                             blocked_by=state.blockers(ref)))
            state.blocked_tables[ref] = a.key
        elif added:
            state.add(AddColumns(table=ref, columns=tuple(added), rows=live.rows or 0,
                                 blocked_by=state.blockers(ref)))
            state.touched.add(ref)
