"""Handlers for backups and migrations: a legacy table is backed up (a table snapshot,
or a copy job across regions, expiring after BACKUP_EXPIRY_DAYS), then copied to its
new name with exact row counts verified. A destination is replaced only when the
approved plan says so and a whole backup of it exists.

Backup first is enforced here, whatever part of the plan runs (`--only MigrateTable`, a
flow's single task, a resumed run): every backup the migration requires (carried on the
action, and derived again from the spec) must exist and match its table by schema, count
and content checksum (reconcile.apply.proof), or nothing is copied or deleted.

Each legacy table crosses regions once (https://cloud.google.com/bigquery/quotas#copy_jobs:
2,000 cross-region copy jobs per project per day, and each bills transfer): when the source's
proven backup lies in the destination's location and the source does not, the migration copies
from the backup with an in-region copy job, then proves the destination against the source
(schema, count, checksum). Not a clone: a clone reports table_type CLONE and keeps a link to a
base table that expires, and the migrated table must be a plain table
(https://cloud.google.com/bigquery/docs/table-clones-intro). reconcile.plan.budget counts the
same way (`in_region_backup`)."""

from __future__ import annotations

from reconcile import identifiers as ids
from reconcile.apply.context import Context, pause, sql
from reconcile.apply.handlers.base import HANDLERS
from reconcile.apply.results import ActionFailed, Done, done, noop
from reconcile.bq.sqltext import qtable
from reconcile.plan.actions import BackupTable, MigrateTable
from reconcile.plan.compare.migrations import required_backups
from reconcile.plan.names import MIGRATION_SOURCE_PREFIX
from reconcile.apply.proof import unproven

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
        # Identity is never by row count only: schema, count and checksum.
        why = unproven(ctx, a.source, a.backup)
        if why is None:
            return noop(f"backup exists with {n:,} rows (schema, count and checksum match)", rows=n)
        raise ActionFailed(f"{why}: not overwriting an existing table; rename or remove it by hand",
                           {"source_rows": n})
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
    why = unproven(ctx, a.source, a.backup)
    if why is not None:
        raise ActionFailed(f"backup not proven: {why}", {"source_rows": n})
    return done(f"{how} of {n:,} rows, expires in {BACKUP_EXPIRY_DAYS} days", rows=n, method=how)


@HANDLERS.register(MigrateTable)
def migrate_table(ctx: Context, a: MigrateTable) -> Done:
    ctx.table_location(a.source)
    ctx.table_location(a.destination)
    if not ctx.adapter.table_exists(a.source):
        raise ActionFailed(f"{a.source} does not exist")
    n = ctx.count(a.source)
    ledger_source = MIGRATION_SOURCE_PREFIX + a.source
    replaced = None
    if ctx.adapter.table_exists(a.destination):
        have = ctx.count(a.destination)
        if a.replace_rows is None:
            if have != n:
                raise ActionFailed(f"{a.destination} exists with {have:,} rows, {a.source} has {n:,}; "
                                   "the plan expected no table: re-plan", {"destination_rows": have, "source_rows": n})
            if ctx.ledger_has(a.destination, ledger_source, f"rows:{n}"):
                return noop(f"already copied ({n:,} rows)", rows=n)
            # Copied before a crash and not yet recorded, or made by hand: adopted only as a
            # proven copy (schema, count, checksum; a count alone is no identity), and only
            # once the backups the migration requires exist, as for a copy (issue 13).
            _prove_backups(ctx, a)
            why = unproven(ctx, a.source, a.destination)
            if why is not None:
                raise ActionFailed(f"{a.destination} holds {have:,} rows like {a.source} but is not its copy "
                                   f"({why}): not adopted, left as it is; a human decides (rename it, or "
                                   f"allow replace:{a.destination})", {"destination_rows": have, "source_rows": n})
            ctx.record_ledger([{"table_ref": a.destination, "source": ledger_source,
                                "content_hash": f"rows:{n}", "rows": n, "rows_inserted": n}])
            return done(f"already a proven copy of {a.source} ({n:,} rows): adopted and recorded", rows=n,
                        adopted=True)
        if have != a.replace_rows:
            raise ActionFailed(f"{a.destination} has {have:,} rows, the approved plan replaces "
                               f"{a.replace_rows:,}: re-plan", {"destination_rows": have})
        # Its rows go only once their backup is there, whole (taken by this plan or an earlier run).
        proven = _prove_backups(ctx, a)
        ctx.adapter.delete_table(a.destination)
        replaced = have
    else:
        proven = _prove_backups(ctx, a)
    via = _in_region_backup(ctx, a, proven)
    ctx.adapter.copy_table(via or a.source, a.destination)
    pause("migrate:copied")
    got = ctx.count(a.destination)
    if got != n:
        raise ActionFailed(f"copied {got:,} rows, {a.source} has {n:,}: source untouched",
                           {"destination_rows": got, "source_rows": n})
    if via is not None:
        # A copy of a copy: proven against the original itself, not only counted.
        why = unproven(ctx, a.source, a.destination)
        if why is not None:
            raise ActionFailed(f"copied from backup {via}, not proven: {why}: source untouched",
                               {"destination_rows": got, "source_rows": n})
    ctx.record_ledger([{"table_ref": a.destination, "source": ledger_source,
                        "content_hash": f"rows:{n}", "rows": n, "rows_inserted": n}])
    extra = f", replacing {replaced:,} rows (backed up)" if replaced is not None else ""
    if via is not None:
        return done(f"copied {n:,} rows in-region from backup {via} (one cross-region copy per table), "
                    f"schema, count and checksum verified against {a.source}{extra}",
                    rows=n, replaced_rows=replaced, copied_from=via)
    return done(f"copied {n:,} rows, counts verified{extra}", rows=n, replaced_rows=replaced)


def _in_region_backup(ctx: Context, a: MigrateTable, proven: list[tuple[str, str]]) -> str | None:
    """The proven backup of the source to copy from instead (None: copy from the source): one
    in the destination's location when the source is in another, so the table crosses
    regions once (its backup did)."""
    dst_loc = ctx.table_location(a.destination)
    if ids.same_location(ctx.table_location(a.source), dst_loc):
        return None
    return next((bk for of, bk in proven
                 if of == a.source and ids.same_location(ctx.table_location(bk), dst_loc)), None)


def _prove_backups(ctx: Context, a: MigrateTable) -> list[tuple[str, str]]:
    """Refuse the migration unless each backup it requires exists and is a proven copy;
    the (table, backup) pairs proven."""
    need = dict.fromkeys(a.backups + required_backups(ctx.d, a.source, a.destination, a.replace_rows))
    problems = [p for of, bk in need if (p := unproven(ctx, of, bk)) is not None]
    if problems:
        raise ActionFailed("backup first: " + "; ".join(problems) + f": not migrating {a.source}",
                           {"backups": [bk for _, bk in need]})
    return list(need)
