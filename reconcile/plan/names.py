"""The names the planner and the executor agree on: where backups, archive copies and
relocation copies go, how the load ledger records migrations and transforms, and
which ops tables are the tool's own.

The planner predicts these names and the executor creates them, so both import
them from here (a name spelled twice would drift). Pure: string functions only.
"""

from __future__ import annotations

import hashlib
from typing import Iterable

from reconcile.snapshot.model import TMP_PREFIX  # noqa: F401 - the executor and planner import it from here
from reconcile.snapshot.model import CHECKPOINTS_TABLE, KEY_RANGES_TABLE, LEDGER_TABLE, TEMP_TABLES_TABLE
from reconcile.spec.model import DesiredState

# Tables the tool itself keeps in the ops dataset: never reported as unmanaged. The
# snapshot reads some of them (LEDGER_TABLE, CHECKPOINTS_TABLE, TEMP_TABLES_TABLE,
# KEY_RANGES_TABLE), so
# their names live in reconcile.snapshot.model; TMP_PREFIX is the temporary tables' name.
RUN_RECORDS_TABLE = "run_records"  # every action of every run, at the run's end
LEASE_TABLE = "lease"  # one apply per project at a time
OPS_TABLES = frozenset({LEDGER_TABLE, CHECKPOINTS_TABLE, RUN_RECORDS_TABLE, LEASE_TABLE, TEMP_TABLES_TABLE,
                        KEY_RANGES_TABLE})

# A dataset being relocated is copied to "<name>__relocating" and back.
RELOCATION_SUFFIX = "__relocating"
# Load-ledger `source` of a migrated table ("bq:<dataset>.<table>") and of a transform run.
MIGRATION_SOURCE_PREFIX = "bq:"
TRANSFORM_SOURCE_PREFIX = "transform:"
# The blocker of a destructive action the run was not allowed to take.
NEEDS_ALLOW = "destructive: needs --allow-destructive"


def backup_dataset(desired: DesiredState) -> str:
    """Where backups go: the archive dataset if the spec has one, else the ops dataset."""
    return desired.archive.dataset if desired.archive else desired.ops_dataset


def backup_name(dataset: str, table: str, suffix: str = "") -> str:
    return f"backup__{dataset}__{table}{suffix}"


def replacement_backup(desired: DesiredState, destination: str, rows: int) -> str:
    """Where a migration destination about to be replaced (holding `rows` rows) is backed up
    first: "<archive or ops>.backup__<dataset>__<table>__<rows>rows". Pure."""
    ds, table = destination.split(".", 1)
    return f"{backup_dataset(desired)}.{backup_name(ds, table, f'__{rows}rows')}"


def archive_name(dataset: str, table: str) -> str:
    return f"{dataset}__{table}"


def transform_fingerprint(inputs: Iterable[str], rows: dict[str, int | None]) -> str:
    """What a transform's inputs looked like, as a hash: rows per input table.

    The executor records it after a run; the planner compares it with the snapshot."""
    text = ";".join(f"{t}={rows.get(t)}" for t in sorted(inputs))
    return "inputs:" + hashlib.sha256(text.encode()).hexdigest()[:16]
