"""The routines part of the snapshot, read for the reference scan (issue 17): which
functions and procedures may still read a legacy dataset.

Read with the views, in one UNION ALL query over `dataset.INFORMATION_SCHEMA.VIEWS` and
`.ROUTINES` per location and chunk of datasets (sql/snapshot/views_routines.sql), in the
snapshot's first round (reconcile.snapshot.read): the requests grow with locations and
datasets, never with tables or routines. BigQuery's `ddl` column holds the whole CREATE
statement; the emulator elides the body there (`AS (...)`, `BEGIN ... END`: docs/emulator.md),
and a region-qualified ROUTINES view answers nothing on it, so a routine whose `ddl` does
not carry its body is read with one routines.get each (on BigQuery: none, or only those
whose DDL the parser cannot read).

Read only when a plan may delete a dataset (`wanted`) or by `reconcile refs`. Reads only,
through the adapter it is given.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from reconcile.snapshot.model import RoutineState

if TYPE_CHECKING:
    from reconcile.bq.adapter import Adapter
    from reconcile.spec.model import DesiredState

# How the emulator shortens a routine's body in ROUTINES.ddl.
_ELIDED = re.compile(r"AS\s*\(\.\.\.\)\s*$|BEGIN\s*\.\.\.\s*END\s*$", re.S)


def wanted(desired: DesiredState) -> bool:
    """Whether a plan of this spec needs the references (it may delete a dataset)."""
    return bool(desired.retire or (desired.archive is not None and desired.archive.delete_sources))


def collect(adapter: Adapter, results: list[list[dict[str, Any]]]) -> dict[str, RoutineState]:
    """"dataset.name" -> RoutineState from the ROUTINES rows; a body the DDL elides is
    read with routines.get."""
    out: dict[str, RoutineState] = {}
    for rows in results:
        for r in rows:
            ds, name = r["dataset_name"], r["routine_name"]
            ddl = r.get("ddl") or ""
            definition: str | None = ddl if ddl and not _ELIDED.search(ddl.strip()) else None
            if definition is None:
                definition = adapter.routine_body(ds, name)
            out[f"{ds}.{name}"] = RoutineState(type=r.get("routine_type") or "ROUTINE", definition=definition)
    return dict(sorted(out.items()))
