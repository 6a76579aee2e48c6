"""Migrations: copy each legacy table matching a migration into its destination,
backed up first; a destination that exists with other rows is backed up and
replaced only with an allow naming it (`--allow-destructive replace:TABLE`); a
destination where a view (or anything but a table) stands, or whose name BigQuery
would reject, is blocked with the reason.

Reads `blockers()` (a destination may be a declared table in conflict); adds
`managed_datasets` (the legacy datasets), `managed_tables`, `migration_destinations`
and `touched` (each destination copied). Pure.
"""

from __future__ import annotations

from reconcile import identifiers as ids
from reconcile.plan.actions import BackupTable, MigrateTable
from reconcile.plan.allows import needs as needs_allow
from reconcile.plan.names import (
    MIGRATION_SOURCE_PREFIX, backup_dataset, backup_name, replacement_backup,
)
from reconcile.plan.state import PlanInputs, PlanState
from reconcile.snapshot.model import TableState
from reconcile.spec.model import DesiredState


def _refused(dst: str, live: TableState | None) -> str | None:
    """Why a copy job cannot write `dst` (None: it can): a name BigQuery rejects, or a
    view (or other non-table) standing where the table would go."""
    try:
        ids.split_table_ref(dst)
    except ids.IdentifierError as e:
        return f"destination {dst!a}: {e}"
    if live is not None and live.type != "TABLE":
        return (f"{dst} exists as a {live.type}: a copy job cannot replace it with a table; "
                "drop or rename it by hand, then re-plan")
    return None


def required_backups(desired: DesiredState, source: str, destination: str,
                     replace_rows: int | None) -> tuple[tuple[str, str], ...]:
    """(table, backup) pairs a migration of `source` to `destination` needs before it runs:
    the source's backup when its migration asks for one, and the destination's when it
    replaces a table holding `replace_rows` rows. Pure: the planner puts them on the
    action and the executor derives them again (a plan saved before this field existed,
    or built by hand, carries none)."""
    if replace_rows is not None:
        return ((destination, replacement_backup(desired, destination, replace_rows)),)
    sds, table = source.split(".", 1)
    for mg in desired.migrations:
        if mg.matches(sds, table) and mg.destination(table) == destination:
            return ((source, f"{backup_dataset(desired)}.{backup_name(sds, table)}"),) if mg.backup else ()
    return ()


def compare(inp: PlanInputs, state: PlanState) -> None:
    d, s = inp.desired, inp.snapshot
    bds = inp.backup_dataset
    # Newest first: the latest copy counts (a replaced destination has older entries too).
    ledger = sorted(s.ledger, key=lambda e: e.loaded_at or "", reverse=True)
    for mg in d.migrations:
        state.managed_datasets.add(mg.source_dataset)
        sources = sorted(r for r, t in inp.tables_in(mg.source_dataset).items()
                         if t.type == "TABLE" and mg.matches(mg.source_dataset, r.split(".", 1)[1]))
        for src in sources:
            table = src.split(".", 1)[1]
            dst = mg.destination(table)
            state.migration_destinations[dst] = src
            state.managed_tables.add(dst)
            src_rows = inp.rows(src)
            live = s.tables.get(dst)
            entry = next((e for e in ledger if e.table == dst and e.source == MIGRATION_SOURCE_PREFIX + src),
                         None)
            blocked = state.blockers(src, dst)
            refused = _refused(dst, live)
            if refused:
                # Nothing to back up, nothing to copy over: a human decides.
                a = state.add(MigrateTable(source=src, destination=dst, rows=src_rows,
                                           blocked_by=blocked + (refused,)))
                state.blocked_tables.setdefault(dst, a.key)
                continue
            if live is not None:
                if entry is not None and entry.rows == src_rows:
                    continue
                if entry is None and live.rows == src_rows:
                    # Already there with the source's count but no record of this tool's copy
                    # (a hand copy, or a crash before the record): adopted by the executor only
                    # as a proven copy, after the backup the migration takes (issue 13). The
                    # record then keeps the spec's own transforms' later changes from reading
                    # as drift.
                    backup = f"{bds}.{backup_name(mg.source_dataset, table)}"
                    if mg.backup and backup not in s.tables:
                        state.add(BackupTable(source=src, backup=backup, rows=src_rows, blocked_by=blocked))
                    state.add(MigrateTable(source=src, destination=dst, rows=src_rows, blocked_by=blocked,
                                           backups=((src, backup),) if mg.backup else ()))
                    continue
                # The destination exists with other rows: replacing it is destructive.
                backup = replacement_backup(d, dst, live.rows or 0)
                if backup not in s.tables:
                    state.add(BackupTable(source=dst, backup=backup, rows=live.rows or 0, blocked_by=blocked))
                state.add(MigrateTable(source=src, destination=dst, rows=src_rows,
                                       replace_rows=live.rows or 0, backups=((dst, backup),),
                                       blocked_by=blocked + (() if inp.allow_destructive.replace(dst)
                                                             else (needs_allow("replace", dst),))))
                state.touched.add(dst)
                continue
            backup = f"{bds}.{backup_name(mg.source_dataset, table)}"
            if mg.backup and backup not in s.tables:
                state.add(BackupTable(source=src, backup=backup, rows=src_rows, blocked_by=blocked))
            state.add(MigrateTable(source=src, destination=dst, rows=src_rows, blocked_by=blocked,
                                   backups=((src, backup),) if mg.backup else ()))
            state.touched.add(dst)
