"""The ArchiveDataset handler: every table of a backup dataset copied into the archive
as `<dataset>__<table>`, each copy proven (schema, count, content checksum); the source
dataset deleted only when the plan allows it, the spec does not keep it, and every
object in it is accounted for now: each table has a proven archive copy, and nothing
a copy job cannot carry as what it is (a view, a snapshot, a routine, a model) is in it.
Otherwise the deletion is refused before anything is deleted.

What still reads the dataset is read again here, just before deleting (issue 17): a view or
routine created since the plan (a saved plan's fingerprint does not cover views outside the
spec) refuses the deletion, naming it, unless the spec waives it.

A source table whose migration backup (taken into the archive dataset by BackupTable) lies in
the archive's location, while the source does not, is copied from that proven backup in-region,
not across regions a second time (https://cloud.google.com/bigquery/quotas#copy_jobs); the
archive copy is proven against the source either way. reconcile.plan.budget counts the same."""

from __future__ import annotations

from reconcile import identifiers as ids
from reconcile.apply.context import Context
from reconcile.apply.handlers.base import HANDLERS
from reconcile.apply.proof import uncarried_objects, unproven
from reconcile.apply.results import ActionFailed, Done, done, noop
from reconcile.plan import references
from reconcile.plan.actions import ArchiveDataset
from reconcile.plan.compare.archive import COPIED
from reconcile.plan.names import archive_name, backup_dataset, backup_name
from reconcile.snapshot.rounds import run_concurrently


@HANDLERS.register(ArchiveDataset)
def archive_dataset(ctx: Context, a: ArchiveDataset) -> Done:
    ctx.need_dataset(a.archive)
    if ctx.location(a.name) is None:
        return noop(f"{a.name} no longer exists")
    # The tables are independent (each its own copy into its own name): copied and proven
    # concurrently, at most the run's parallelism at once. The first failure in table order
    # fails the action once every copy has ended; the copies made stay, proven, and count as
    # already there next time.
    results = run_concurrently([lambda src=src, dest=dest: _archive_one(ctx, a, src, dest)
                                for src, dest, _ in a.tables], ctx.parallelism)
    copied = [dest for (_, dest, _), r in zip(a.tables, results) if r == "copied"]
    present = [dest for (_, dest, _), r in zip(a.tables, results) if r == "present"]
    deleted = False
    if a.delete_source and not a.keep:
        _prove_all_archived(ctx, a)
        _nothing_reads_it(ctx, a)
        ctx.adapter.delete_dataset(a.name)
        ctx.forget(a.name)
        deleted = True
    tail = "; source deleted" if deleted else ("; source kept (spec: keep)" if a.keep else "; source kept")
    return done(f"{len(copied)} table(s) copied to {a.archive}, {len(present)} already there{tail}",
                copied=copied, already=present, deleted_source=deleted)


def _archive_one(ctx: Context, a: ArchiveDataset, src: str, dest: str) -> str:
    """'copied' or 'present' (a proven copy was there already); raises ActionFailed."""
    if not ctx.adapter.table_exists(src):
        raise ActionFailed(f"{src} does not exist")
    if ctx.adapter.table_exists(dest):
        # Identity is never by row count only: an archive name taken by other rows
        # (a collision, a hand copy) is never counted as this source's copy.
        why = unproven(ctx, src, dest)
        if why is None:
            return "present"
        raise ActionFailed(f"{why}: not overwriting an archive table")
    ctx.adapter.copy_table(_in_region_backup(ctx, src, a.archive) or src, dest)
    why = unproven(ctx, src, dest)
    if why is not None:
        raise ActionFailed(f"archive copy not proven: {why}")
    return "copied"


def _nothing_reads_it(ctx: Context, a: ArchiveDataset) -> None:
    """The references to the dataset, read now (views, routines, the spec's files as loaded)."""
    from reconcile.snapshot.read import read_snapshot

    live = read_snapshot(ctx.adapter, ctx.d, references=True)
    still = references.blocking(references.find(ctx.d, live), a.name)
    if still:
        raise ActionFailed(f"not deleting {a.name}: {'; '.join(still)}", {"references": still})


def _in_region_backup(ctx: Context, src: str, archive: str) -> str | None:
    """The source's proven migration backup to copy from (None: copy from the source): one in
    the archive's location when the source is in another."""
    arc_loc = ctx.need_dataset(archive)
    if ids.same_location(ctx.table_location(src), arc_loc):
        return None
    sds, table = src.split(".", 1)
    bk = f"{backup_dataset(ctx.d)}.{backup_name(sds, table)}"
    if not ids.same_location(ctx.location(bk.split(".", 1)[0]), arc_loc) or not ctx.adapter.table_exists(bk):
        return None
    return bk if unproven(ctx, src, bk) is None else None


def _prove_all_archived(ctx: Context, a: ArchiveDataset) -> None:
    """Every object in the source, listed now: tables each with a proven archive copy;
    anything else refuses the deletion (nothing has been deleted yet)."""
    objects = ctx.adapter.list_tables(a.name)
    others = [f"{a.name}.{n} ({t})" for n, t in objects if t != "TABLE"] + uncarried_objects(ctx, a.name)
    if others:
        raise ActionFailed(f"not deleting {a.name}: {', '.join(others)} would be lost (a copy job does not "
                           "carry it as what it is); archive it by hand, or keep the dataset")
    problems = [why for n, t in objects if t in COPIED
                if (why := unproven(ctx, f"{a.name}.{n}", f"{a.archive}.{archive_name(a.name, n)}"))]
    if problems:
        raise ActionFailed(f"not deleting {a.name}: {'; '.join(problems)}")
