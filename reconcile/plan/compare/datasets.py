"""Datasets: create the missing ones, flag a wrong region (or relocate it when
approved), resume a relocation that crashed part-way. An approved relocation the
executor would refuse (the ops dataset itself; a dataset holding objects a copy job
cannot carry, such as a materialized view) is blocked here, with the reason.

Reads nothing from the state; adds `blocked_datasets` (a flagged dataset, or one
whose relocation is refused, blocks everything in it) and `managed_datasets` (a
relocation's temporary copy). Pure.
"""

from __future__ import annotations

from reconcile import identifiers as ids
from reconcile.plan.actions import CreateDataset, FlagRecreate, RelocateDataset
from reconcile.plan.graph import RELOCATABLE
from reconcile.plan.names import RELOCATION_SUFFIX
from reconcile.plan.state import PlanInputs, PlanState


def relocation_refused(inp: PlanInputs, name: str) -> tuple[str, ...]:
    """Why an approved relocation cannot be carried out (what the executor would refuse
    at run time), as blocked_by reasons; empty when it can."""
    reasons = []
    if name == inp.desired.ops_dataset:
        reasons.append(f"{name} is the ops dataset: it holds this tool's own records (ledger, run "
                       "records, lease, relocation checkpoints), which its relocation would write into "
                       "itself; move it by hand (copy jobs), then re-plan")
    carried = [f"{ref} ({t.type})" for ref, t in sorted(inp.tables_in(name).items())
               if t.type not in RELOCATABLE]
    if carried:
        reasons.append(f"cannot relocate {', '.join(carried)}: copy jobs carry tables only (views are "
                       "recreated from their SQL); move them by hand, then re-plan")
    return tuple(reasons)


def compare(inp: PlanInputs, state: PlanState) -> None:
    d, s = inp.desired, inp.snapshot
    for name in sorted(d.datasets):
        spec = d.datasets[name]
        want = d.location_of(name)
        live = s.datasets.get(name)
        checkpoint = s.checkpoints.get(name)
        tables = inp.tables_in(name)
        if checkpoint and checkpoint != "done":
            # A relocation crashed part-way: resuming is the only safe move.
            temp = inp.tables_in(name + RELOCATION_SUFFIX)
            names = sorted({t.split(".", 1)[1] for t in [*tables, *temp]})
            rows = max(sum(t.rows or 0 for t in tables.values()),
                       sum(t.rows or 0 for t in temp.values()))
            state.add(RelocateDataset(name=name, from_location=live.location if live else "?",
                                      to_location=want, table_names=tuple(names), rows=rows,
                                      resume_step=checkpoint))
            state.managed_datasets.add(name + RELOCATION_SUFFIX)
        elif live is None:
            state.add(CreateDataset(name=name, location=want, description=spec.description,
                                    labels=tuple(sorted(spec.labels.items()))))
        elif not ids.same_location(live.location, want):
            rows = sum(t.rows or 0 for t in tables.values())
            if name in inp.approvals:
                refused = relocation_refused(inp, name)
                a = state.add(RelocateDataset(name=name, from_location=live.location, to_location=want,
                                              table_names=tuple(sorted(t.split(".", 1)[1] for t in tables)),
                                              rows=rows, blocked_by=refused))
                if refused:
                    # It stays where it is: everything in it waits, as for a flag.
                    state.blocked_datasets[name] = a.key
            else:
                a = state.add(FlagRecreate(name=name, actual_location=live.location,
                                           desired_location=want, tables=len(tables), rows=rows))
                state.blocked_datasets[name] = a.key
