"""Archive: copy the tables of every dataset the archive matches into the archive
dataset, and delete the source dataset only when the spec says `delete_sources: true`
*and* an allow names the deletion (`--allow-destructive delete:DATASET`, or `delete`),
unless the spec keeps it.

Scope: an archive source is never a declared dataset, the ops dataset, the archive
dataset or a relocation's temporary copy, whatever its patterns match; each dataset a
glob matches is shown in the plan with the pattern that matched it (`matched_by`).

Identity is never by row count alone: two sources whose `<dataset>__<table>` archive
names collide are a block naming both, and an archive name already taken by a table
whose rows or columns differ from its source is a block (the executor then proves what
the plan cannot see, the content checksum, before it deletes anything). A source that
holds an object no copy job carries with its type (a view, a materialized view, a
snapshot or clone) is not deleted: the deletion is refused, with the reason, before
anything runs.

Reads `blockers()` (the archive dataset may be flagged); adds `managed_datasets`
(each archived dataset). Pure.
"""

from __future__ import annotations

import fnmatch

from reconcile.plan.actions import ArchiveDataset
from reconcile.plan.allows import needs as needs_allow
from reconcile.plan.names import RELOCATION_SUFFIX, archive_name
from reconcile.plan.state import PlanInputs, PlanState

# What an archive copy job carries as what it is: a table stays a table. A snapshot or
# clone copied is a plain TABLE (its type and base are lost), so a source holding one is
# archived but never deleted.
CARRIED = frozenset({"TABLE"})
COPIED = frozenset({"TABLE", "SNAPSHOT", "CLONE"})


def matched_by(inp: PlanInputs, ds: str) -> str | None:
    """The archive pattern that makes `ds` a source (None: it is not one). Declared
    datasets, ops, the archive and relocation copies never are."""
    d = inp.desired
    arc = d.archive
    if arc is None or ds == arc.dataset or ds in d.datasets or ds == d.ops_dataset:
        return None
    if ds.endswith(RELOCATION_SUFFIX):
        return None
    if ds in arc.sources:
        return ds
    return next((p for p in arc.sources if fnmatch.fnmatchcase(ds, p)), None)


def _columns(t) -> list | None:
    return None if t.columns is None else [(c.name.lower(), c.type, c.mode) for c in t.columns]


def compare(inp: PlanInputs, state: PlanState) -> None:
    arc, s = inp.desired.archive, inp.snapshot
    if arc is None:
        return
    sources = {ds: pat for ds in sorted(s.datasets) if (pat := matched_by(inp, ds)) is not None}
    # Every archive name, and who maps to it: two sources on one name is a block naming both.
    claims: dict[str, list[str]] = {}
    for ds in sources:
        for ref, t in inp.tables_in(ds).items():
            if t.type in COPIED:
                claims.setdefault(archive_name(ds, ref.split(".", 1)[1]), []).append(ref)
    for ds, pattern in sources.items():
        state.managed_datasets.add(ds)
        keep = arc.keeps(ds)
        to_copy, refused = [], []
        for ref, t in sorted(inp.tables_in(ds).items()):
            if t.type not in COPIED:
                continue
            name = archive_name(ds, ref.split(".", 1)[1])
            dest = f"{arc.dataset}.{name}"
            if len(claims[name]) > 1:
                refused.append(f"archive name collision: {' and '.join(sorted(claims[name]))} both map to "
                               f"{dest}; rename one by hand")
                continue
            have = s.tables.get(dest)
            if have is None:
                to_copy.append((ref, dest, t.rows or 0))
                continue
            cols, have_cols = _columns(t), _columns(have)
            if (have.rows or 0) != (t.rows or 0) or (cols is not None and have_cols is not None
                                                     and cols != have_cols):
                refused.append(f"{dest} exists and is not a copy of {ref} ({have.rows or 0:,} rows vs "
                               f"{t.rows or 0:,}{', other columns' if (have.rows or 0) == (t.rows or 0) else ''}): "
                               "not overwriting it; rename or remove it by hand")
        wanted = arc.delete_sources and not keep
        allowed = inp.allow_destructive.delete(ds)
        # Prove before deleting: what no copy job carries as what it is would be lost.
        uncarried = [f"{ref} ({t.type})" for ref, t in sorted(inp.tables_in(ds).items())
                     if t.type not in CARRIED]
        if wanted and allowed and uncarried:
            refused.append(f"not deleting {ds}: {', '.join(uncarried)} cannot be archived as what it is by "
                           "a copy job; archive it by hand, or keep the dataset")
        blocked = state.blockers(f"{arc.dataset}.x") + tuple(refused)
        if to_copy or refused or (wanted and allowed):
            state.add(ArchiveDataset(name=ds, archive=arc.dataset, tables=tuple(to_copy),
                                     delete_source=wanted and allowed, keep=keep,
                                     matched_by=pattern, blocked_by=blocked))
        elif wanted:
            # Copied, and the spec asks for the deletion: it waits for an allow naming it.
            state.add(ArchiveDataset(name=ds, archive=arc.dataset, tables=(), delete_source=True,
                                     keep=keep, matched_by=pattern,
                                     blocked_by=blocked + (needs_allow("delete", ds),)))
