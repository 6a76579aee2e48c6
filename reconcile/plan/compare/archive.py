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

Retirement (issue 17): a dataset the spec lists under `retire` is archived the same way
(same action, same proof before deleting) and deleted only when every table is migrated
and its copy verified (the ledger records the copy, counts verified, at the source's
current row count), every table has its archive copy (proven again by schema, count and
checksum by the executor before it deletes), nothing in it is lost by a copy, and no
reference to it remains (reconcile.plan.references; waivable per reference). Until then
the plan says, in a note, which condition is missing; the deletion still needs
`--allow-destructive delete:DATASET`, and with the allow a missing condition blocks it.
A deletion an archive's `delete_sources` asks for is blocked by references the same way.

Reads `blockers()` (the archive dataset may be flagged); adds `managed_datasets`
(each archived dataset) and `notes` (retirements waiting). Pure.
"""

from __future__ import annotations

import fnmatch

from reconcile.plan.actions import ArchiveDataset
from reconcile.plan.allows import needs as needs_allow
from reconcile.plan.names import MIGRATION_SOURCE_PREFIX, RELOCATION_SUFFIX, archive_name
from reconcile.plan import references
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
    if ds in d.retire:
        return "retire"
    return next((p for p in arc.sources if fnmatch.fnmatchcase(ds, p)), None)


def retire_missing(inp: PlanInputs, ds: str, refs: list) -> list[str]:
    """Which of a retirement's conditions `ds` does not meet yet (empty: it may be deleted)."""
    d, s = inp.desired, inp.snapshot
    out = []
    for ref, t in sorted(inp.tables_in(ds).items()):
        if t.type != "TABLE":
            continue
        dst = d.migrated_name(ref)
        if dst is None:
            out.append(f"{ref} is not migrated: no migration takes it")
        elif dst not in s.tables:
            out.append(f"{ref} is not migrated yet ({dst} does not exist)")
        elif not any(e.table == dst and e.source == MIGRATION_SOURCE_PREFIX + ref and e.rows == (t.rows or 0)
                     for e in s.ledger):
            out.append(f"{ref} -> {dst}: no verified copy of its {t.rows or 0:,} rows recorded in the ledger")
    if s.routines is None:
        out.append("references not read (the snapshot holds no views and routines scan): re-read the warehouse")
    return out + references.blocking(refs, ds)


def _columns(t) -> list | None:
    return None if t.columns is None else [(c.name.lower(), c.type, c.mode) for c in t.columns]


def compare(inp: PlanInputs, state: PlanState) -> None:
    arc, s = inp.desired.archive, inp.snapshot
    if arc is None:
        return
    sources = {ds: pat for ds in sorted(s.datasets) if (pat := matched_by(inp, ds)) is not None}
    refs = references.find(inp.desired, s) if any(
        arc.delete_sources or ds in inp.desired.retire for ds in sources) else []
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
        retired = ds in inp.desired.retire
        wanted = (arc.delete_sources and not keep) or retired
        allowed = inp.allow_destructive.delete(ds)
        # Nothing still reads it (and, retired, every table migrated and verified).
        missing = retire_missing(inp, ds, refs) if retired else (
            references.blocking(refs, ds) if wanted else [])
        # Prove before deleting: what no copy job carries as what it is would be lost.
        uncarried = [f"{ref} ({t.type})" for ref, t in sorted(inp.tables_in(ds).items())
                     if t.type not in CARRIED]
        if wanted and allowed and uncarried:
            refused.append(f"not deleting {ds}: {', '.join(uncarried)} cannot be archived as what it is by "
                           "a copy job; archive it by hand, or keep the dataset")
        blocked = state.blockers(f"{arc.dataset}.x") + tuple(refused)
        if wanted and allowed:
            blocked += tuple(missing)
        if retired and not allowed:
            # The spec's standing intent, not drift: the plan says what is missing and
            # copies what it can; the deletion waits for the allow.
            state.notes.append(f"retire {ds}: " + ("waiting for: " + "; ".join(missing) if missing else
                               f"ready (migrated, verified, archived, unreferenced): delete it with "
                               f"--allow-destructive delete:{ds}"))
            if to_copy or refused:
                state.add(ArchiveDataset(name=ds, archive=arc.dataset, tables=tuple(to_copy),
                                         delete_source=False, keep=keep, matched_by=pattern, blocked_by=blocked))
            continue
        if to_copy or refused or (wanted and allowed):
            state.add(ArchiveDataset(name=ds, archive=arc.dataset, tables=tuple(to_copy),
                                     delete_source=wanted and allowed, keep=keep,
                                     matched_by=pattern, blocked_by=blocked))
        elif wanted:
            # Copied, and the spec asks for the deletion: it waits for an allow naming it.
            state.add(ArchiveDataset(name=ds, archive=arc.dataset, tables=(), delete_source=True,
                                     keep=keep, matched_by=pattern,
                                     blocked_by=blocked + tuple(missing) + (needs_allow("delete", ds),)))
