"""The planner: desired state + live snapshot + staging manifest -> Plan.

`plan()` is a pure function. It takes no client, reads no file, no clock and
no environment variable: everything it needs is in its arguments, so the same
inputs always give the same plan, and it is tested without BigQuery. Side
effects live in the executor.

`plan()` reads top to bottom: one comparison per concern (`reconcile.plan.compare`:
datasets, tables, views, migrations, loads, transforms with their expectation
gates, archive, unmanaged), each reading what the earlier ones found from one
explicit `PlanState`; then the known gaps the target declared, then the one
ordering, and last the object graph (`plan.graph`, applied by `plan.dependencies`):
it orders the actions by what reads what (the phases break ties) and blocks, with
the reason, what would fail for a reason the plan can see (an input that will not
exist, a write into a flagged dataset, a query across locations on BigQuery).
`restrict` filters a plan for single-flow runs.

The names the executor shares with the planner live in `plan.names`, expectation
checks in `plan.expectations`, BigQuery's column-change rules in `plan.schema`,
view SQL normalisation in `plan.compare.views`.
"""

from __future__ import annotations

import fnmatch
from dataclasses import replace
from typing import Iterable

from reconcile.plan.actions import (
    Action, AddColumns, BackupTable, CreateDataset, CreateTable, CreateView, ExpectationFailed, MergeLoad,
    MigrateTable, MissingSource, Plan, RunTransform, Validate,
    phase_of,
)
from reconcile.plan import dependencies, graph
from reconcile.plan.allows import Allows
from reconcile.plan.compare import (
    archive, datasets, loads, migrations, tables, transforms, unmanaged, views,
)
from reconcile.plan.budget import budget_notes
from reconcile.plan.state import PlanInputs, PlanState
from reconcile.snapshot.model import Snapshot
from reconcile.spec.model import DesiredState
from reconcile.spec.sources import SourceManifest


def plan(desired: DesiredState, snapshot: Snapshot, sources: SourceManifest | None = None, *,
         approvals: Iterable[str] = (), allow_destructive: "bool | Iterable[str] | Allows" = False) -> Plan:
    """Compute the ordered actions that bring `snapshot` to `desired`. Pure: no I/O.
    `allow_destructive`: True (the bare flag) or the allows it names (reconcile.plan.allows)."""
    inputs = PlanInputs(desired, snapshot, sources or SourceManifest(), frozenset(approvals),
                        Allows.of(allow_destructive))
    state = PlanState.start(desired)
    datasets.compare(inputs, state)  # blocks a dataset in the wrong region
    tables.compare(inputs, state)  # blocks a table in conflict; touches created and altered tables
    views.compare(inputs, state)
    migrations.compare(inputs, state)  # touches destinations (blocked by the above)
    loads.compare(inputs, state)  # blocks a table whose source is missing; touches merged tables
    transforms.compare(inputs, state)  # runs on what the above touch; gates judged after them
    archive.compare(inputs, state)
    unmanaged.compare(inputs, state)  # last: whatever no comparison above accounts for
    actions = _apply_known_gaps(desired, snapshot.target, state.actions)
    # Last: the object graph orders the actions and blocks what it cannot run.
    ordered, graph_notes = dependencies.resolve(inputs, state, graph.build(desired, snapshot),
                                                order(actions))
    notes = tuple(f"approval for {name} ignored: not a declared dataset"
                  for name in sorted(inputs.approvals - set(desired.datasets))) + tuple(graph_notes)
    notes += tuple(state.notes)
    notes += budget_notes(ordered, desired, snapshot)  # cross-region copies vs daily quotas
    return Plan(project=desired.project, actions=tuple(ordered),
                snapshot_taken_at=snapshot.taken_at, notes=notes)


def order(actions: Iterable[Action]) -> list[Action]:
    """The one ordering: datasets, tables, backups, migrations, loads, transforms,
    views, validations, archive last (then the unmanaged listing). Transforms keep
    their declaration order (later ones may read earlier ones' outputs); the loads of one
    table keep the loads planner's order (lowest precedence first: the last merge wins)."""
    indexed = list(enumerate(actions))

    def key(item: tuple[int, Action]) -> tuple:
        i, a = item
        phase = phase_of(a) + (100 if a.late else 0)
        if isinstance(a, RunTransform):
            return (phase, i, "", "")
        if isinstance(a, MergeLoad):  # files into one table: in the loads planner's (precedence) order
            return (phase, 0, a.dataset, a.table, i)
        return (phase, 0, a.dataset, a.key)

    return [a for _, a in sorted(indexed, key=key)]


def _apply_known_gaps(desired: DesiredState, target: str, actions: list[Action]) -> list[Action]:
    """Mark the gates the target declared it cannot meet; unblock what only they blocked."""
    t = desired.targets.get(target)
    gaps = t.known_gaps if t else []
    if not gaps:
        return actions

    def reason(table: str, check: str) -> str | None:
        return next((g.reason for g in gaps if g.matches(table, check)), None)

    out: list[Action] = []
    for a in actions:
        if isinstance(a, MissingSource):
            a = replace(a, known_gap=reason(a.table, "missing_source"))
        elif isinstance(a, ExpectationFailed):
            a = replace(a, known_gap=reason(a.table, a.check.split("(")[0]))
        elif isinstance(a, Validate):
            kinds = dict.fromkeys(c.split("(")[0] for c in a.checks)
            known = tuple((k, r) for k in kinds if (r := reason(a.table, k)) is not None)
            a = replace(a, known_gaps=known)
        out.append(a)
    accepted = {a.key for a in out if a.known_gap is not None}
    return [replace(a, blocked_by=tuple(b for b in a.blocked_by if b not in accepted))
            if set(a.blocked_by) & accepted else a for a in out]


def restrict(p: Plan, kinds: Iterable[str] = (), objects: Iterable[str] = ()) -> Plan:
    """The same plan filtered to some action kinds and/or objects (single-flow runs)."""
    kinds, objects = set(kinds), list(objects)

    def keep(a: Action) -> bool:
        if kinds and a.kind not in kinds:
            return False
        if objects and not any(fnmatch.fnmatchcase(a.target, o) or a.dataset == o for o in objects):
            return False
        return True

    kept = [a for a in p.actions if keep(a)]
    return replace(p, actions=tuple(_inputs_left_out(_backups_left_out(kept, p.actions), p.actions)))


def _made_by(a: Action) -> tuple[str, ...]:
    """The tables, views and datasets a change brings into existence (the object graph's
    `creates`, as far as the action itself tells)."""
    if isinstance(a, (CreateDataset,)):
        return (a.name,)
    if isinstance(a, (CreateTable, CreateView)):
        return (a.target,)
    if isinstance(a, MigrateTable):
        return (a.destination,) if a.replace_rows is None else ()
    if isinstance(a, RunTransform):  # the outputs its reason says are missing
        return tuple(o for o in a.outputs if f"output {o} does not exist" in a.reason)
    return ()


def _inputs_left_out(kept: list[Action], every: Iterable[Action]) -> list[Action]:
    """A kept action whose table (or an input) only an action left out of this run would
    create is blocked with that reason, instead of failing at apply ("table not found"):
    a single-flow `validate` or `load` run on a table the `create` step has not made yet."""
    kept_keys = {a.key for a in kept}
    made: dict[str, Action] = {}
    for a in every:
        if a.key not in kept_keys and not a.diagnostic and not a.needs_attention:
            for ref in _made_by(a):
                made.setdefault(ref, a)
    if not made:
        return kept
    out = []
    for a in kept:
        if not a.diagnostic and not a.needs_attention and not a.blocked_by:
            needs = [*a.inputs, *((a.target,) if isinstance(a, (MergeLoad, Validate, AddColumns)) else ())]
            needs += [ref.split(".", 1)[0] for ref in needs if "." in ref]
            missing = [ref for ref in dict.fromkeys(needs) if ref in made]
            if missing:
                a = replace(a, blocked_by=a.blocked_by + tuple(
                    f"{ref} does not exist yet: {made[ref].kind} {made[ref].target} makes it, and "
                    "that step is not in this run" for ref in missing))
        out.append(a)
    return out


def _backups_left_out(kept: list[Action], every: Iterable[Action]) -> list[Action]:
    """Backup first, whatever subset runs: a migration kept while the BackupTable that takes
    one of its backups is left out is blocked, with the reason (the executor refuses it too)."""
    kept_keys = {a.key for a in kept}
    taken_by = {b.backup: b.key for b in every if isinstance(b, BackupTable)}
    out = []
    for a in kept:
        if isinstance(a, MigrateTable):
            missing = [bk for _, bk in a.backups if bk in taken_by and taken_by[bk] not in kept_keys]
            if missing:
                a = replace(a, blocked_by=a.blocked_by + tuple(
                    f"backup first: {bk} is not taken yet and its BackupTable is not in this run"
                    for bk in missing))
        out.append(a)
    return out
