"""Handlers for backups and migrations: a legacy table is backed up (a table snapshot,
or a copy job across regions, expiring after BACKUP_EXPIRY_DAYS), then copied to its
new name with exact row counts verified. A destination is replaced only when the
approved plan says so and a whole backup of it exists."""

from __future__ import annotations

from reconcile import identifiers as ids
from reconcile.apply.context import Context, pause, sql
from reconcile.apply.handlers.base import HANDLERS
from reconcile.apply.results import ActionFailed, Done, done, noop
from reconcile.bq.sqltext import qtable
from reconcile.plan.actions import BackupTable, MigrateTable
from reconcile.plan.names import MIGRATION_SOURCE_PREFIX, replacement_backup

# Backups are insurance for the migration that follows, not an archive: they expire.
BACKUP_EXPIRY_DAYS = 90


@HANDLERS.register(BackupTable)
def backup_table(ctx: Context, a: BackupTable) -> Done:
    src_loc = ctx.table_location(a.source)
    bk_loc = ctx.table_location(a.backup)
    if not ctx.adapter.table_exists(a.source):
        raise ActionFailed(f"{a.source} does not exist")
    n = ctx.count(a.source)
    if ctx.adapter.table_exists(a.backup):
        have = ctx.count(a.backup)
        if have == n:
            return noop(f"backup exists with {have:,} rows", rows=have)
        raise ActionFailed(f"{a.backup} exists with {have:,} rows, {a.source} has {n:,}: "
                           "not overwriting a backup; rename or remove it by hand",
                           {"backup_rows": have, "source_rows": n})
    if ids.same_location(src_loc, bk_loc):
        # A table snapshot: BigQuery bills only what later changes in the base table.
        bds, bt = ids.split_table_ref(a.backup)
        ctx.adapter.execute(sql("apply/snapshot_table.sql", backup=qtable(ctx.adapter.project, bds, bt),
                                source=ctx.q(a.source)),
                            location=src_loc, what=f"snapshot {a.source}")
        how = "table snapshot"
    else:
        ctx.adapter.copy_table(a.source, a.backup)  # across regions: a copy job
        how = "copy job"
    ctx.adapter.set_table_expiry(a.backup, BACKUP_EXPIRY_DAYS)
    got = ctx.count(a.backup)
    if got != n:
        raise ActionFailed(f"backup {a.backup} has {got:,} rows, {a.source} has {n:,}",
                           {"backup_rows": got, "source_rows": n})
    return done(f"{how} of {n:,} rows, expires in {BACKUP_EXPIRY_DAYS} days", rows=n, method=how)


@HANDLERS.register(MigrateTable)
def migrate_table(ctx: Context, a: MigrateTable) -> Done:
    ctx.table_location(a.source)
    ctx.table_location(a.destination)
    if not ctx.adapter.table_exists(a.source):
        raise ActionFailed(f"{a.source} does not exist")
    # Backup first: any backup the plan takes of the source or the destination must exist.
    backups = [b.backup for b in ctx.plan.actions
               if isinstance(b, BackupTable) and b.source in (a.source, a.destination)]
    missing = [b for b in backups if not ctx.adapter.table_exists(b)]
    if missing:
        raise ActionFailed(f"backup {', '.join(missing)} missing: not migrating")
    n = ctx.count(a.source)
    ledger_source = MIGRATION_SOURCE_PREFIX + a.source
    replaced = None
    if ctx.adapter.table_exists(a.destination):
        have = ctx.count(a.destination)
        if a.replace_rows is None:
            if have != n:
                raise ActionFailed(f"{a.destination} exists with {have:,} rows, {a.source} has {n:,}; "
                                   "the plan expected no table: re-plan", {"destination_rows": have, "source_rows": n})
            # Copied before a crash, not yet recorded: record it.
            if not ctx.ledger_has(a.destination, ledger_source, f"rows:{n}"):
                ctx.record_ledger([{"table_ref": a.destination, "source": ledger_source,
                                    "content_hash": f"rows:{n}", "rows": n, "rows_inserted": n}])
                return done(f"already copied ({n:,} rows); recorded", rows=n)
            return noop(f"already copied ({n:,} rows)", rows=n)
        if have != a.replace_rows:
            raise ActionFailed(f"{a.destination} has {have:,} rows, the approved plan replaces "
                               f"{a.replace_rows:,}: re-plan", {"destination_rows": have})
        # Its rows go only once their backup is there, whole (taken by this plan or an earlier run).
        backup = replacement_backup(ctx.d, a.destination, have)
        if not ctx.adapter.table_exists(backup) or ctx.count(backup) != have:
            raise ActionFailed(f"no complete backup {backup} of {a.destination}: not replacing it")
        ctx.adapter.delete_table(a.destination)
        replaced = have
    ctx.adapter.copy_table(a.source, a.destination)
    pause("migrate:copied")
    got = ctx.count(a.destination)
    if got != n:
        raise ActionFailed(f"copied {got:,} rows, {a.source} has {n:,}: source untouched",
                           {"destination_rows": got, "source_rows": n})
    ctx.record_ledger([{"table_ref": a.destination, "source": ledger_source,
                        "content_hash": f"rows:{n}", "rows": n, "rows_inserted": n}])
    extra = f", replacing {replaced:,} rows (backed up)" if replaced is not None else ""
    return done(f"copied {n:,} rows, counts verified{extra}", rows=n, replaced_rows=replaced)
