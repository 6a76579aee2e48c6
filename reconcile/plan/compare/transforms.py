"""Transforms and the expectation gates: which transforms run (a failing gate they
fix, new data they repair, inputs changed since the last build) and, per gated
table, whether its gate re-runs after this plan's changes or a check fails now.

Runs after every comparison that changes data. Reads `touched` (what tables,
migrations and loads change: a gate on such a table is judged after the change,
not now), `migration_destinations` (tables only a migration creates) and
`blockers()`; adds `managed_tables` (outputs) and `touched` (outputs, in
declaration order, so a transform reading an earlier one's output runs too).
Expectations are judged by `reconcile.plan.expectations.evaluate`. Pure.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from typing import Callable, Iterable

from reconcile.plan.actions import ExpectationFailed, RunTransform, Validate
from reconcile.plan.expectations import CheckResult, evaluate, expectations_with_floors, load_floors
from reconcile.plan.names import TRANSFORM_SOURCE_PREFIX, transform_fingerprint
from reconcile.plan.state import PlanInputs, PlanState
from reconcile.spec.model import DesiredState, SqlInfo

# Live types the snapshot observes (reconcile.snapshot.read): a gate is judged on these only.
OBSERVED = frozenset({"TABLE", "CLONE"})


@dataclass
class _Repairs:
    """What the transforms do about the failing checks."""

    fixed: dict[tuple[str, str], str] = field(default_factory=dict)  # (table, kind) -> transform
    # (table, kind) -> transform: failing although its repair already ran on the same inputs.
    stale: dict[tuple[str, str], str] = field(default_factory=dict)
    late_outputs: set[str] = field(default_factory=set)  # outputs of transforms that run late


def compare(inp: PlanInputs, state: PlanState) -> None:
    data_touched = frozenset(state.touched)  # created, loaded, migrated: before any transform
    gated = expectation_tables(inp, state)
    failing = _failing_now(inp, gated, data_touched)
    repairs = _transforms(inp, state, failing, data_touched)
    _gates(inp, state, gated, failing, repairs, data_touched)


def expectation_tables(inp: PlanInputs, state: PlanState) -> list[str]:
    """Tables in declared datasets with a gate: expectations or a load's row floor."""
    d = inp.desired
    candidates = set(inp.snapshot.tables) | set(d.tables) | set(state.migration_destinations)
    for tr in d.transforms.values():
        candidates.update(tr.outputs)
    out = []
    for ref in sorted(candidates):
        if ref.split(".")[0] not in d.datasets:
            continue
        exp = d.expectations_for(ref)
        if (exp is not None and not exp.is_empty()) or load_floors(d, ref):
            out.append(ref)
    return out


def _failing_now(inp: PlanInputs, gated: list[str],
                 data_touched: frozenset[str]) -> dict[str, list[CheckResult]]:
    """The checks failing on the snapshot, for tables this plan does not change first."""
    failing: dict[str, list[CheckResult]] = {}
    for ref in gated:
        live = inp.snapshot.tables.get(ref)
        if live is None or ref in data_touched or live.type not in OBSERVED:
            continue  # a view (or anything but a table) has no observations to judge
        results = evaluate(expectations_with_floors(inp.desired, ref),
                           inp.snapshot.observations.get(ref, {}), live.rows)
        bad = [r for r in results if not r.passed]
        if bad:
            failing[ref] = bad
    return failing


def sql_refusals(desired: DesiredState, name: str, info: SqlInfo, rows_of: Callable[[str], int | None],
                 managed: Iterable[str]) -> list[str]:
    """Why a transform's SQL may not run, one reason per statement, each naming the file
    and line: a destructive statement (DROP, TRUNCATE, DELETE without a filter, MERGE ...
    NOT MATCHED BY SOURCE THEN DELETE, ALTER ... DROP/RENAME, CREATE OR REPLACE TABLE over
    a table with rows) that `transforms.<name>.allow` does not name, and a write into an
    existing table the spec does not manage. `rows_of(ref)`: the table's rows, None when
    it does not exist (the planner asks the snapshot, the executor BigQuery); `managed`:
    the tables the spec accounts for and those a transform of this tool has built. A
    transform that rebuilds its output with CREATE OR REPLACE names that in its allow
    (it replaces rows on every run but the first). Pure;
    shared by the planner and the executor, which re-checks the text it is about to send."""
    tr = desired.transforms[name]
    allowed = {a.strip().lower() for a in tr.allow}
    managed = set(managed)
    out: list[str] = []
    for line, subject, why in info.destroying:
        if subject.upper().startswith("CREATE OR REPLACE TABLE "):
            rows = rows_of(subject.split()[-1])
            if rows is None or rows == 0:
                continue  # nothing to replace: the table is new or empty
            why += f" ({rows:,} rows)" if rows > 0 else ""
        if subject.lower() in allowed:
            continue
        out.append(f"{info.file} line {line}: {why}: destructive, not run (allow it with "
                   f"transforms.{name}.allow: [{subject!r}])")
    for line, ref in info.write_lines:
        subject = f"WRITE {ref}"
        if ref in managed or rows_of(ref) is None or subject.lower() in allowed:
            continue
        out.append(f"{info.file} line {line}: writes {ref}, which exists and the spec does not manage "
                   f"(declare it under tables:, or allow it with transforms.{name}.allow: [{subject!r}])")
    return list(dict.fromkeys(out))


def _managed_for_transforms(inp: PlanInputs, state: PlanState) -> set[str]:
    """Tables a transform may write: those the spec declares or a migration makes, and
    those a transform of this tool built (its ledger says so)."""
    built = {e.table for e in inp.snapshot.ledger if e.source.startswith(TRANSFORM_SOURCE_PREFIX)}
    return set(state.managed_tables) | set(inp.desired.tables) | set(inp.desired.views) | built


def _transforms(inp: PlanInputs, state: PlanState, failing: dict[str, list[CheckResult]],
                data_touched: frozenset[str]) -> _Repairs:
    d, s = inp.desired, inp.snapshot
    rep = _Repairs()
    managed = _managed_for_transforms(inp, state)

    def rows_of(ref: str) -> int | None:
        t = s.tables.get(ref)
        return None if t is None else (t.rows if t.rows is not None else -1)
    archive_ds = d.archive.dataset if d.archive else None
    for name, tr in d.transforms.items():
        reasons: list[str] = []
        fp = transform_fingerprint(tr.inputs, {i: inp.rows(i) if i in s.tables else None for i in tr.inputs})
        recorded = sorted((e for e in s.ledger if e.source == TRANSFORM_SOURCE_PREFIX + name),
                          key=lambda e: e.loaded_at or "")
        inputs_touched = any(i in state.touched for i in tr.inputs)
        # The repair already ran on exactly these inputs: running it again cannot
        # change the result, so a gate still failing needs a human, not a loop.
        ran_on_same_inputs = bool(recorded) and recorded[-1].content_hash == fp and not inputs_touched
        for out in tr.outputs:
            state.managed_tables.add(out)
            if out not in s.tables and out not in d.tables and out not in state.migration_destinations:
                reasons.append(f"output {out} does not exist")
        for fix in tr.fixes:
            pattern, kind = fix.rsplit(":", 1)
            # A transform fixes only what it writes: the glob is matched against its outputs.
            for ref, bad in failing.items():
                if ref in tr.outputs and fnmatch.fnmatchcase(ref, pattern) and any(r.kind == kind for r in bad):
                    if ran_on_same_inputs and ref not in data_touched:
                        rep.stale[(ref, kind)] = name
                        continue
                    rep.fixed[(ref, kind)] = name
                    reasons.append(f"fixes {kind} on {ref}")
            for ref in sorted(data_touched):
                # New data arrives in this plan (e.g. a migrated copy of a table with
                # the audit's placeholders): the repair runs after it, idempotently.
                if ref in tr.outputs and fnmatch.fnmatchcase(ref, pattern):
                    reasons.append(f"repairs {ref} after it changes")
        if tr.schedule is None and tr.inputs and not reasons:
            if inputs_touched or not recorded or recorded[-1].content_hash != fp:
                if not all(o in s.tables for o in tr.outputs) or recorded or inputs_touched:
                    reasons.append("inputs changed since the last build" if recorded or inputs_touched
                                   else "never built by this tool")
        info = d.sql_info.get(tr.sql)
        # Outputs the spec lists are the spec's to write; ones filled from the SQL are not.
        mine = managed if name in d.outputs_from_sql else managed | set(tr.outputs)
        refused = tuple(sql_refusals(d, name, info, rows_of, mine)) if info is not None else ()
        if refused and not reasons:
            reasons.append("its SQL is refused")  # shown and blocked, though nothing asks it to run
        if reasons:
            late = any(i.split(".")[0] == archive_ds for i in tr.inputs)
            state.add(RunTransform(name=name, sql_file=tr.sql, outputs=tuple(tr.outputs),
                                   reason="; ".join(dict.fromkeys(reasons)), late=late,
                                   blocked_by=refused + state.blockers(*tr.outputs, *tr.inputs)))
            if refused:
                for out in tr.outputs:
                    state.blocked_tables.setdefault(out, f"RunTransform:{name}")
            state.touched.update(tr.outputs)
            if late:
                rep.late_outputs.update(tr.outputs)
    return rep


def _gates(inp: PlanInputs, state: PlanState, gated: list[str], failing: dict[str, list[CheckResult]],
           rep: _Repairs, data_touched: frozenset[str]) -> None:
    """Per gated table: a Validate after this plan changes it, or each check failing now
    that no transform fixes."""
    for ref in gated:
        exp = expectations_with_floors(inp.desired, ref)
        checks = tuple(r.check for r in evaluate(exp, {}, None))
        late = ref in rep.late_outputs
        if ref in data_touched or ref not in inp.snapshot.tables:
            # New data may change any metric: the gate runs after it.
            state.add(Validate(table=ref, checks=checks, late=late, blocked_by=state.blockers(ref)))
            continue
        if ref in state.touched:
            state.add(Validate(table=ref, checks=checks, late=late, blocked_by=state.blockers(ref)))
        unfixed = [r for r in failing.get(ref, []) if (ref, r.kind) not in rep.fixed]
        for r in unfixed:
            observed = r.observed
            if (ref, r.kind) in rep.stale:
                observed += f" (still, after {rep.stale[(ref, r.kind)]} ran on the same inputs)"
            state.add(ExpectationFailed(table=ref, check=r.check, expected=r.expected,
                                        observed=observed, blocked_by=state.blockers(ref)))
