"""Loads: merge each staging file not yet in the load ledger into its table;
refuse a file whose columns do not fit the table; report a missing file.

Two checks on the table itself, from the snapshot's load checks (measured in the
batched observations, reconcile.snapshot.loadchecks):
- a file in the ledger counts as loaded only while the table still holds its keys: a
  shortfall in the file's key range is a MergeLoad again, with the reason "N rows of
  FILE missing from TABLE" (issue 18, "Tables over ledgers");
- a target already holding duplicate keys (on the load's keys) is not merged into: the
  MergeLoad is blocked naming the table, the keys and how many rows repeat a key (a
  MERGE would update every copy and keep them; issue 13).

Several files into one table with a declared precedence (higher wins where their keys
overlap) are merged lowest first; a file that is merged again makes every higher one of
its table merge again after it, so the higher file's rows stay the table's.

Reads `blockers()`; adds `blocked_tables` (a missing source blocks its table, unless
something already does) and `touched` (each table merged into). Pure.
"""

from __future__ import annotations

from reconcile.plan.actions import MergeLoad, MissingSource, RefuseLoad
from reconcile.plan.state import PlanInputs, PlanState
from reconcile.snapshot.loadchecks import current_entry, keys_metric, range_metric
from reconcile.spec.model import canonical_type


def missing_rows(inp: PlanInputs, table: str, source: str, content_hash: str, key: str) -> int:
    """Rows of a loaded file (this content) its table no longer holds, by the ledger's key
    range and the snapshot's count of the table's keys in it; 0 when not measured."""
    e = current_entry(inp.snapshot.ledger, table, source, content_hash)
    have = inp.snapshot.load_checks.get(table, {}).get(range_metric(source))
    if e is None or e.key_rows is None or e.key_column != key or have is None:
        return 0
    return max(0, e.key_rows - int(have))


def duplicate_keys(inp: PlanInputs, table: str, keys: tuple[str, ...]) -> int:
    """Rows of the table beyond one per distinct key (0 when not measured)."""
    chk = inp.snapshot.load_checks.get(table, {})
    rows, distinct = chk.get("rows"), chk.get(keys_metric(keys))
    if rows is None or distinct is None:
        return 0
    return max(0, int(rows) - int(distinct))


def _by_precedence(loads: list) -> list:
    """Loads in spec order, except that the loads of one table that declare a precedence
    come lowest first (stable: loads without one keep their order)."""
    return sorted(loads, key=lambda ld: ld.precedence if ld.precedence is not None else 0)


def compare(inp: PlanInputs, state: PlanState) -> None:
    d, s = inp.desired, inp.snapshot
    merged_below: dict[str, str] = {}  # table -> a lower-precedence file merged in this plan
    for ld in _by_precedence(list(d.loads)):
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
        reload = None
        if s.loaded(ld.table, ld.source, sf.content_hash):
            lost = missing_rows(inp, ld.table, ld.source, sf.content_hash, ld.keys[0])
            if lost:
                reload = f"{lost:,} rows of {ld.source} missing from {ld.table}"
            elif ld.precedence is not None and ld.table in merged_below:
                reload = (f"merged again after {merged_below[ld.table]}, which has a lower precedence: "
                          f"{ld.source} wins where their keys overlap")
            else:
                continue
        if ld.precedence is not None:
            merged_below.setdefault(ld.table, ld.source)
        blocked = state.blockers(ld.table)
        dups = duplicate_keys(inp, ld.table, tuple(ld.keys))
        if dups:
            blocked = blocked + (
                f"{ld.table} already holds duplicate keys on ({', '.join(ld.keys)}): {dups:,} rows repeat "
                "a key another row has; a MERGE would update every copy and keep them: remove the "
                "duplicates by hand, then re-plan",)
        state.add(MergeLoad(table=ld.table, source=ld.source, content_hash=sf.content_hash,
                            rows=sf.rows, keys=tuple(ld.keys), columns=sf.columns,
                            table_rows=inp.rows(ld.table), blocked_by=blocked, reload=reload))
        state.touched.add(ld.table)
