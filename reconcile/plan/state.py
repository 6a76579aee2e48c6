"""What the comparisons share: the inputs they read and the state they build up.

`plan()` makes one `PlanInputs` (read-only) and one `PlanState`, then hands both to
each comparison in `reconcile.plan.compare`, in a fixed sequence. A comparison reads
what the earlier ones added to the state and adds its own; the fields below say
who adds what and who reads it, so the order in `plan()` is a documented
dependency, not a hidden one. Pure data: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from reconcile.plan.actions import Action
from reconcile.plan.allows import Allows
from reconcile.plan.names import backup_dataset
from reconcile.snapshot.model import Snapshot, TableState
from reconcile.spec.model import DesiredState
from reconcile.spec.sources import SourceManifest


@dataclass(frozen=True)
class PlanInputs:
    """Everything the plan is computed from. No comparison changes it."""

    desired: DesiredState
    snapshot: Snapshot
    sources: SourceManifest
    approvals: frozenset[str]  # datasets the operator approved to relocate
    allow_destructive: Allows  # what --allow-destructive names (reconcile.plan.allows)
    # Tables per dataset, indexed once: Snapshot.tables_in scans every table, and the
    # comparisons ask for every dataset (quadratic at 10,000 tables).
    by_dataset: dict[str, dict[str, TableState]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_dataset: dict[str, dict[str, TableState]] = {}
        for ref, t in self.snapshot.tables.items():
            by_dataset.setdefault(ref.split(".", 1)[0], {})[ref] = t
        object.__setattr__(self, "by_dataset", by_dataset)

    def tables_in(self, dataset: str) -> dict[str, TableState]:
        """As Snapshot.tables_in, from the index."""
        return dict(self.by_dataset.get(dataset, {}))

    def rows(self, ref: str) -> int:
        t = self.snapshot.tables.get(ref)
        return (t.rows or 0) if t else 0

    @property
    def backup_dataset(self) -> str:
        return backup_dataset(self.desired)


@dataclass
class PlanState:
    """What the comparisons have found so far, in the order `plan()` runs them:
    datasets, tables, views, migrations, loads, transforms (and expectations),
    archive, unmanaged."""

    # Every action found, in the order found. Added by every comparison; `order()`
    # sorts them afterwards (actions that sort equal keep this order).
    actions: list[Action] = field(default_factory=list)
    # dataset -> key of the action that blocks everything in it (FlagRecreate: the
    # dataset is in the wrong region). Added by datasets; read through `blockers()`
    # by every later comparison.
    blocked_datasets: dict[str, str] = field(default_factory=dict)
    # table -> key of the action that blocks it. Added by tables and views
    # (FlagSchemaConflict) and by loads (MissingSource; an earlier blocker stays).
    # Read through `blockers()` by migrations, loads, transforms and their gates.
    blocked_tables: dict[str, str] = field(default_factory=dict)
    # Tables whose schema or data this plan changes. Added by tables (CreateTable,
    # AddColumns), migrations (destinations), loads (MergeLoad) and transforms
    # (outputs, in declaration order). Read by transforms: a transform whose inputs
    # change runs again, and a gate on a changed table runs after the change.
    touched: set[str] = field(default_factory=set)
    # Tables the spec accounts for. Added by tables, views, migrations (destinations)
    # and transforms (outputs). Read by unmanaged.
    managed_tables: set[str] = field(default_factory=set)
    # Datasets the spec accounts for: the declared ones to start with. Added by
    # datasets (a relocation's temporary copy), migrations (source datasets) and
    # archive (the archived datasets). Read by unmanaged.
    managed_datasets: set[str] = field(default_factory=set)
    # migration destination -> source table. Added by migrations; read by transforms
    # (a gate or a transform output may be a table only a migration creates).
    migration_destinations: dict[str, str] = field(default_factory=dict)
    # Notes for the plan (what waits on a human but is not drift: a retirement not yet
    # possible or waiting for its allow). Added by archive; read by plan().
    notes: list[str] = field(default_factory=list)

    @classmethod
    def start(cls, desired: DesiredState) -> "PlanState":
        return cls(managed_datasets=set(desired.datasets))

    def add(self, a: Action) -> Action:
        self.actions.append(a)
        return a

    def blockers(self, *refs: str) -> tuple[str, ...]:
        """Keys of the actions that block any of these tables (or their datasets)."""
        out: list[str] = []
        for ref in refs:
            ds = ref.split(".")[0]
            if ds in self.blocked_datasets:
                out.append(self.blocked_datasets[ds])
            if ref in self.blocked_tables:
                out.append(self.blocked_tables[ref])
        return tuple(dict.fromkeys(out))
