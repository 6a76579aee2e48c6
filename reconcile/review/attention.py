"""What needs a reviewer's attention in a pull request, per object, and why.

`attention(c)` groups the destructive spec changes, the blocked or destructive
planned actions and the lint violations by the object they concern, with the
tables and rows at stake (read from the snapshot), those this PR causes first.
`short_reason(a)` says in a few words what blocks an action (the comment's
summary line): one entry per action class in `SHORT_REASONS`, an ActionRegistry,
so a new kind must say how it is summarised (no silent default). Pure.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from reconcile.plan.actions import (
    Action, AddColumns, ArchiveDataset, BackupTable, CreateDataset, CreateTable, CreateView,
    ExpectationFailed, FlagRecreate, FlagSchemaConflict, MergeLoad, MigrateTable, MissingSource,
    RefuseLoad, RelocateDataset, RunTransform, Unmanaged, Validate,
)
from reconcile.plan.registry import ActionRegistry
from reconcile.render.plan import describe
from reconcile.review.prinput import CommentInput
from reconcile.review.specdiff import Stake
from reconcile.snapshot.model import Snapshot

# =========================================================================== short reasons

SHORT_REASONS: ActionRegistry[Callable[[Any], str]] = ActionRegistry("short reasons (PR comment)")


def short_reason(a: Action) -> str:
    """What blocks an action, in a few words (for the summary line)."""
    return SHORT_REASONS[a](a)


# The kinds that need a human, each in its own words.
SHORT_REASONS.register_all({
    FlagRecreate: lambda a: f"{a.name} is in {a.actual_location}, must be in {a.desired_location}",
    FlagSchemaConflict: lambda a: f"{a.table}: incompatible schema change",
    RefuseLoad: lambda a: f"{a.source} refused by its gate",
    MissingSource: lambda a: f"{a.source} is missing",
    ExpectationFailed: lambda a: f"{a.table}: {a.check} expected {a.expected}, observed {a.observed}",
})


# Kinds blocked only by another action (or a known gap): their own description, cut.
@SHORT_REASONS.register(CreateDataset, RelocateDataset, CreateTable, AddColumns, CreateView, MergeLoad,
                        BackupTable, ArchiveDataset, RunTransform, Validate, Unmanaged)
def _described(a: Action) -> str:
    text = describe(a)
    return text if len(text) <= 100 else text[:99] + "…"


@SHORT_REASONS.register(MigrateTable)
def _migrate_table(a: MigrateTable) -> str:
    if a.replace_rows is not None:
        return f"replacing {a.destination} needs --allow-destructive"
    return _described(a)


SHORT_REASONS.verify()


# =========================================================================== attention


def stake_size(stake: Stake, snap: Snapshot | None) -> tuple[int | None, int | None]:
    """(tables, rows) a spec change puts at stake, read from the snapshot."""
    if snap is None:
        return None, None
    if stake.kind == "dataset":
        return len(snap.tables_in(stake.name)), snap.dataset_rows(stake.name)
    if stake.kind == "table":
        t = snap.tables.get(stake.name)
        return (1, t.rows or 0) if t is not None else (0, 0)
    if stake.kind == "tables":
        refs = [r for r in snap.tables if fnmatch.fnmatchcase(r, stake.name)]
        return len(refs), sum(snap.tables[r].rows or 0 for r in refs)
    names = [d for d in snap.datasets if fnmatch.fnmatchcase(d, stake.name)]
    return (sum(len(snap.tables_in(d)) for d in names), sum(snap.dataset_rows(d) for d in names))


@dataclass
class Attention:
    object: str
    why: list[str] = field(default_factory=list)
    tables: int | None = None
    rows: int | None = None
    blocked: bool = False
    new: bool = False  # caused by this PR (spec change, or an action the base plan has not)

    def stake(self, tables: int | None, rows: int | None) -> None:
        if tables is not None:
            self.tables = max(self.tables or 0, tables)
        if rows is not None:
            self.rows = max(self.rows or 0, rows)


def attention(c: CommentInput) -> list[Attention]:
    """One entry per object needing attention: new with this PR first, then by rows at stake."""
    items: dict[str, Attention] = {}

    def get(obj: str) -> Attention:
        return items.setdefault(obj, Attention(obj))

    for ch in c.diff.destructive:
        objs = [s for s in ch.stakes if s.kind in ("dataset", "table")] or list(ch.stakes)
        names = [s.name for s in objs] or [ch.object]
        for i, name in enumerate(names):
            it = get(name)
            it.new = True
            it.why.append(f"spec ({ch.change}): " + "; ".join(ch.destructive))
            if i < len(objs):
                it.stake(*stake_size(objs[i], c.snapshot))
    if c.plan is not None:
        base_keys = {a.key for a in c.plan.base_plan.actions} if c.plan.base_plan else None
        for a in c.plan.plan.actions:
            if not (a.is_blocked or a.destructive):
                continue
            it = get(a.target)
            text = describe(a)
            if a.blocked_by and not a.needs_attention:
                text += " (blocked by " + ", ".join(a.blocked_by) + ")"
            it.why.append(("plan, blocked: " if a.is_blocked else "plan, destructive: ") + text)
            it.blocked |= a.is_blocked
            it.new |= base_keys is not None and a.key not in base_keys
            it.stake(a.stakes.tables, a.stakes.rows)
    for f in c.lint.violations:
        it = get(f.object)
        it.new = True
        it.why.append(f"lint {f.rule}: {f.message} ({f.file}: {f.field})")
    return sorted(items.values(), key=lambda i: (not i.new, -(i.rows or 0), -(i.tables or 0), i.object))
