"""Unmanaged: list the datasets and tables in the warehouse the spec does not account
for (never touched, only reported), except the tool's own ops tables, backups and
archive copies; and the legacy objects the spec neither migrates nor archives (in a
dataset a migration reads from, matched by no migration, its dataset not archived).
A table under the tool's temporary-table name that ops does not record as the tool's
is listed blocked (exit 3: a human's decision, DESIGN.md "Ownership").

Runs last: reads `managed_datasets` and `managed_tables` as every other comparison
left them. Pure.
"""

from __future__ import annotations

from reconcile.plan.actions import Unmanaged
from reconcile.plan.names import OPS_TABLES, RELOCATION_SUFFIX, TEMP_TABLES_TABLE, TMP_PREFIX
from reconcile.plan.state import PlanInputs, PlanState


def compare(inp: PlanInputs, state: PlanState) -> None:
    d, s = inp.desired, inp.snapshot
    arc = d.archive.dataset if d.archive else None
    for ds in sorted(s.datasets):
        if ds in state.managed_datasets or ds.endswith(RELOCATION_SUFFIX):
            continue
        tables = inp.tables_in(ds)
        state.add(Unmanaged(object=ds, object_type="dataset", rows=sum(t.rows or 0 for t in tables.values())))
    # Legacy datasets a migration reads from, not archived: what no migration takes is left behind.
    legacy = {mg.source_dataset for mg in d.migrations} - set(d.datasets)
    legacy = {ds for ds in legacy if not (d.archive and d.archive.matches(ds))}
    migrated = set(state.migration_destinations.values())
    for ref, t in sorted(s.tables.items()):
        ds, name = ref.split(".", 1)
        if ds in legacy and ref not in migrated:
            # "unmanaged legacy table models_v4.x": neither migrated nor archived.
            state.add(Unmanaged(object=ref, object_type=f"legacy {t.type.lower()}", rows=t.rows or 0))
            continue
        if ds not in d.datasets or ref in state.managed_tables:
            continue
        if ds == d.ops_dataset and name in OPS_TABLES:
            continue
        if ds == arc or (ds == inp.backup_dataset and name.startswith("backup__")):
            continue  # archive copies and backups are the tool's own
        if name.startswith(TMP_PREFIX):
            if ref in s.own_temp_tables:
                continue  # a crash leftover ops records as the tool's: the next load of it drops it
            # Under the tool's temporary-table name, made by no recorded run: never deleted;
            # a load goes through another name; what to do with it is a human's call.
            state.add(Unmanaged(
                object=ref, object_type=f"{t.type.lower()} under the tool's temporary-table name, "
                                        "not made by this tool", rows=t.rows or 0,
                blocked_by=(f"{ref} is named like this tool's temporary load tables ({TMP_PREFIX}*) but no "
                            f"record in {d.ops_dataset}.{TEMP_TABLES_TABLE} says this tool made it: "
                            f"never deleted or loaded through (it holds {t.rows or 0:,} rows); rename or "
                            "delete it by hand, then re-plan",)))
            continue
        state.add(Unmanaged(object=ref, object_type=t.type.lower(), rows=t.rows or 0))
