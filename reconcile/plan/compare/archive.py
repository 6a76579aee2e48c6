"""Archive: copy the tables of every dataset the archive matches into the archive
dataset (a copy whose rows differ is taken again), and delete the source dataset
when the spec says so or --allow-destructive does, unless it is kept (or it holds an
object no copy job carries, such as a view: then the deletion is refused, with the reason).

Reads `blockers()` (the archive dataset may be flagged); adds `managed_datasets`
(each archived dataset). Pure.
"""

from __future__ import annotations

from reconcile.plan.actions import ArchiveDataset
from reconcile.plan.graph import COPYABLE
from reconcile.plan.names import archive_name
from reconcile.plan.state import PlanInputs, PlanState


def compare(inp: PlanInputs, state: PlanState) -> None:
    arc, s = inp.desired.archive, inp.snapshot
    if arc is None:
        return
    for ds in sorted(s.datasets):
        if not arc.matches(ds):
            continue
        state.managed_datasets.add(ds)
        keep = arc.keeps(ds)
        to_copy = []
        for ref, t in sorted(inp.tables_in(ds).items()):
            if t.type not in COPYABLE:
                continue
            dest = f"{arc.dataset}.{archive_name(ds, ref.split('.', 1)[1])}"
            have = s.tables.get(dest)
            if have is None or (have.rows or 0) != (t.rows or 0):
                to_copy.append((ref, dest, t.rows or 0))
        delete = (arc.delete_sources or inp.allow_destructive) and not keep
        # Prove before deleting: what no copy job carries (a view, a materialized view)
        # would be lost with the dataset.
        uncarried = [f"{ref} ({t.type})" for ref, t in sorted(inp.tables_in(ds).items())
                     if t.type not in COPYABLE]
        refused = ((f"not deleting {ds}: {', '.join(uncarried)} cannot be archived by a copy job; "
                    "archive it by hand, or keep the dataset"),) if delete and uncarried else ()
        if to_copy or delete:
            state.add(ArchiveDataset(name=ds, archive=arc.dataset, tables=tuple(to_copy),
                                     delete_source=delete, keep=keep,
                                     blocked_by=state.blockers(f"{arc.dataset}.x") + refused))
