"""Loads: merge each staging file not yet in the load ledger into its table;
refuse a file whose columns do not fit the table; report a missing file.

Reads `blockers()`; adds `blocked_tables` (a missing source blocks its table, unless
something already does) and `touched` (each table merged into). Pure.
"""

from __future__ import annotations

from reconcile.plan.actions import MergeLoad, MissingSource, RefuseLoad
from reconcile.plan.state import PlanInputs, PlanState
from reconcile.spec.model import canonical_type


def compare(inp: PlanInputs, state: PlanState) -> None:
    d, s = inp.desired, inp.snapshot
    for ld in d.loads:
        sf = inp.sources.get(ld.table, ld.source)
        if sf is None or not sf.exists:
            a = state.add(MissingSource(table=ld.table, source=ld.source))
            state.blocked_tables.setdefault(ld.table, a.key)
            continue
        problems = list(sf.problems)
        declared = {n: canonical_type(t) for n, t, _ in (d.columns_of(ld.table) or [])}
        for name, typ in sf.columns:
            if name not in declared:
                problems.append(f"column {name} ({typ}) is not in table {ld.table}")
            elif declared[name] != typ:
                problems.append(f"column {name}: file has {typ}, table has {declared[name]}")
        for k in ld.keys:
            if k not in declared:
                problems.append(f"key column {k} is not in table {ld.table}")
        if problems:
            state.add(RefuseLoad(table=ld.table, source=ld.source, problems=tuple(problems), rows=sf.rows))
            continue
        if s.loaded(ld.table, ld.source, sf.content_hash):
            continue
        state.add(MergeLoad(table=ld.table, source=ld.source, content_hash=sf.content_hash,
                            rows=sf.rows, keys=tuple(ld.keys), columns=sf.columns,
                            table_rows=inp.rows(ld.table), blocked_by=state.blockers(ld.table)))
        state.touched.add(ld.table)
