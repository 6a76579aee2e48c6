"""Cross-region copy budget: how many cross-region copy jobs a plan needs, against
BigQuery's daily quotas, before anything runs.

BigQuery allows 2,000 cross-region copy jobs per project per day and 100 per destination
table per day (https://cloud.google.com/bigquery/quotas#copy_jobs); cross-region copies
also bill network transfer. A plan that needs more is split over days: the note says how
many runs (one a day) it takes, so the apply is not stopped part-way by `quotaExceeded`.

Counted: BackupTable and MigrateTable whose two ends are in different locations (a backup
within one location is a table snapshot, not a copy job), except a MigrateTable whose source's
backup lies in the destination's location: the executor copies from that backup in-region
(`in_region_backup`, reconcile.apply.handlers.migrations), so a backed-up and migrated legacy
table crosses regions once; an ArchiveDataset's copies into an archive in another location
(reconcile.apply.handlers.archive: one copy job per table), except a table whose backup
(taken by this plan, or already there) lies in the archive's location: the handler copies
that backup in-region; and a `copy`-strategy
RelocateDataset (each table is copied out across regions once; the copy back is in-region).
Pure: locations come from the snapshot, or from the spec for datasets the plan creates.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable

from reconcile import identifiers as ids
from reconcile.plan.actions import Action, ArchiveDataset, BackupTable, MigrateTable, RelocateDataset
from reconcile.plan.names import RELOCATION_SUFFIX, backup_dataset, backup_name
from reconcile.snapshot.model import Snapshot
from reconcile.spec.model import DesiredState

PROJECT_PER_DAY = 2000
TABLE_PER_DAY = 100


def _location(ds: str, desired: DesiredState, snapshot: Snapshot) -> str | None:
    live = snapshot.datasets.get(ds)
    if live is not None:
        return live.location
    return desired.location_of(ds) if ds in desired.datasets else None


def in_region_backup(a: MigrateTable, desired: DesiredState, snapshot: Snapshot) -> str | None:
    """The source's backup the migration copies from in-region (None: it copies from the
    source): a backup in the destination's location when the source is in another."""
    src, dst = a.ends()
    s_loc = _location(src.split(".", 1)[0], desired, snapshot)
    d_loc = _location(dst.split(".", 1)[0], desired, snapshot)
    if not s_loc or not d_loc or ids.same_location(s_loc, d_loc):
        return None
    return next((bk for of, bk in a.backups if of == src
                 and ids.same_location(_location(bk.split(".", 1)[0], desired, snapshot), d_loc)), None)


def _backups_of(actions: list[Action], desired: DesiredState | None, snapshot: Snapshot) -> dict[str, set[str]]:
    """table -> its backups: taken by the plan's unblocked BackupTables, or (the migration
    backup's name, from the spec) already in the snapshot."""
    out: dict[str, set[str]] = {}
    for a in actions:
        if isinstance(a, BackupTable) and not a.is_blocked:
            out.setdefault(a.source, set()).add(a.backup)
    if desired is not None:
        for a in actions:
            if isinstance(a, ArchiveDataset):
                for src, _, _ in a.tables:
                    sds, t = src.split(".", 1)
                    bk = f"{backup_dataset(desired)}.{backup_name(sds, t)}"
                    if bk in snapshot.tables:
                        out.setdefault(src, set()).add(bk)
    return out


def cross_region_copies(actions: Iterable[Action], desired: DesiredState, snapshot: Snapshot) -> Counter:
    """destination table -> cross-region copy jobs the plan's unblocked actions send to it."""
    out: Counter = Counter()
    actions = list(actions)
    backups = _backups_of(actions, desired, snapshot)
    for a in actions:
        if a.is_blocked:
            continue
        if isinstance(a, (BackupTable, MigrateTable)):
            src, dst = a.ends()
            if isinstance(a, MigrateTable) and in_region_backup(a, desired, snapshot):
                continue
            s_loc = _location(src.split(".", 1)[0], desired, snapshot)
            d_loc = _location(dst.split(".", 1)[0], desired, snapshot)
            if s_loc and d_loc and not ids.same_location(s_loc, d_loc):
                out[dst] += 1
        elif isinstance(a, ArchiveDataset):
            s_loc = _location(a.name, desired, snapshot)
            d_loc = _location(a.archive, desired, snapshot)
            if s_loc and d_loc and not ids.same_location(s_loc, d_loc):
                for src, dest, _ in a.tables:
                    if not any(ids.same_location(_location(bk.split(".", 1)[0], desired, snapshot), d_loc)
                               for bk in backups.get(src, ())):
                        out[dest] += 1
        elif isinstance(a, RelocateDataset) and a.strategy == "copy" and a.resume_step is None:
            for t in a.table_names:
                out[f"{a.name}{RELOCATION_SUFFIX}.{t}"] += 1
    return out


def runs_needed(copies: Counter, project_per_day: int = PROJECT_PER_DAY,
                table_per_day: int = TABLE_PER_DAY) -> int:
    """Daily runs the copies take under both quotas (1 when none)."""
    total = sum(copies.values())
    worst = max(copies.values(), default=0)
    return max(1, math.ceil(total / project_per_day), math.ceil(worst / table_per_day))


def budget_notes(actions: Iterable[Action], desired: DesiredState, snapshot: Snapshot) -> tuple[str, ...]:
    """The plan's note on cross-region copies: always their count when there are any, and,
    above the daily quotas, how many runs the work is split over."""
    copies = cross_region_copies(actions, desired, snapshot)
    total = sum(copies.values())
    if not total:
        return ()
    runs = runs_needed(copies)
    note = (f"cross-region copies: {total:,} copy job(s) across regions (BigQuery allows "
            f"{PROJECT_PER_DAY:,} per project and {TABLE_PER_DAY} per destination table per day)")
    if runs > 1:
        note += (f"; above the daily quota: this plan takes {runs} runs, one a day, each copying at most "
                 f"{PROJECT_PER_DAY:,}; a run stopped by quotaExceeded resumes the next day")
    return (note,)
