"""The ArchiveDataset handler: every table of a backup dataset copied into the archive
as `<dataset>__<table>` with counts verified; the source dataset deleted only when the
plan allows it, the spec does not keep it, and every table has a verified copy now."""

from __future__ import annotations

from reconcile.apply.context import COPYABLE, Context
from reconcile.apply.handlers.base import HANDLERS
from reconcile.apply.results import ActionFailed, Done, done, noop
from reconcile.plan.actions import ArchiveDataset
from reconcile.plan.names import archive_name


@HANDLERS.register(ArchiveDataset)
def archive_dataset(ctx: Context, a: ArchiveDataset) -> Done:
    ctx.need_dataset(a.archive)
    if ctx.location(a.name) is None:
        return noop(f"{a.name} no longer exists")
    copied, present = [], []
    for src, dest, _ in a.tables:
        if not ctx.adapter.table_exists(src):
            raise ActionFailed(f"{src} does not exist")
        n = ctx.count(src)
        if ctx.adapter.table_exists(dest):
            have = ctx.count(dest)
            if have == n:
                present.append(dest)
                continue
            raise ActionFailed(f"{dest} exists with {have:,} rows, {src} has {n:,}: "
                               "not overwriting an archive copy", {"archive_rows": have, "source_rows": n})
        ctx.adapter.copy_table(src, dest)
        got = ctx.count(dest)
        if got != n:
            raise ActionFailed(f"archived {got:,} rows of {src}, it has {n:,}",
                               {"archive_rows": got, "source_rows": n})
        copied.append(dest)
    deleted = False
    if a.delete_source and not a.keep:
        # Every table of the source must have a verified archive copy, now.
        tables = [n for n, t in ctx.adapter.list_tables(a.name) if t in COPYABLE]
        pairs = [(f"{a.name}.{t}", f"{a.archive}.{archive_name(a.name, t)}") for t in tables]
        absent = [d for _, d in pairs if not ctx.adapter.table_exists(d)]
        if absent:
            raise ActionFailed(f"not deleting {a.name}: no archive copy {', '.join(absent)}")
        counts = ctx.counts([r for p in pairs for r in p])
        wrong = [f"{s} ({counts[s]:,}) vs {d} ({counts[d]:,})" for s, d in pairs if counts[s] != counts[d]]
        if wrong:
            raise ActionFailed(f"not deleting {a.name}: counts differ: {'; '.join(wrong)}")
        ctx.adapter.delete_dataset(a.name)
        ctx.forget(a.name)
        deleted = True
    tail = "; source deleted" if deleted else ("; source kept (spec: keep)" if a.keep else "; source kept")
    return done(f"{len(copied)} table(s) copied to {a.archive}, {len(present)} already there{tail}",
                copied=copied, already=present, deleted_source=deleted)
