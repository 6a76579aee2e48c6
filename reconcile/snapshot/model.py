"""The live state of a project, as data: what the planner diffs against.

`Snapshot` is a pydantic model that round-trips through JSON (versioned), so a
saved snapshot can be planned against offline. It is filled by
`reconcile.snapshot.read` and `reconcile.snapshot.observe` (the only parts of this
package that talk to BigQuery, through the adapter); `jsonable` is how a query result
value becomes snapshot data. Pure data: no I/O except `save`/`load` of a snapshot
file, no clock except `age()` when no time is given.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

SNAPSHOT_VERSION = 1

# The tool's own tables in the ops dataset that the snapshot reads (reconcile.plan.names
# lists all of them).
LEDGER_TABLE = "load_ledger"  # every load, migration and transform build
CHECKPOINTS_TABLE = "relocation_checkpoints"  # every completed relocation step
TEMP_TABLES_TABLE = "temp_tables"  # every temporary load table the tool made, with its creation time
KEY_RANGES_TABLE = "load_key_ranges"  # every merged file's first-key range
# A load goes through "<dataset>._reconcile_tmp_<digest>" (reconcile.apply.handlers.loads).
# A table under this name is the tool's only while `temp_tables` records it with the
# table's own creation time; any other is a human's (reconcile.plan.compare.unmanaged).
TMP_PREFIX = "_reconcile_tmp_"


def jsonable(value: Any) -> Any:
    """A query result value as JSON-friendly data: dates as ISO strings, numbers as int/float."""
    import base64
    import decimal

    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, decimal.Decimal):
        if value.is_finite() and value == value.to_integral_value():
            return int(value)
        return float(value)
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    return str(value)


class _M(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ColumnState(_M):
    name: str
    type: str
    mode: str = "NULLABLE"


class TableState(_M):
    type: Literal["TABLE", "VIEW", "SNAPSHOT", "CLONE", "EXTERNAL", "MATERIALIZED VIEW", "OTHER"] = "TABLE"
    rows: int | None = None
    columns: list[ColumnState] | None = None  # read only where the spec needs them
    view_sql: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)


class DatasetState(_M):
    location: str
    labels: dict[str, str] = Field(default_factory=dict)
    # Objects beside tables and views, by kind (ROUTINE, MODEL, LEGACY_SQL_VIEW, POLICY_TAG,
    # ROW_ACCESS_POLICY): read only for a dataset the spec places in another location (one a
    # relocation would move), None where not read.
    objects: dict[str, list[str]] | None = None


class RoutineState(_M):
    """A routine (function, procedure), read for the reference scan: its type and the SQL
    it runs (None: it could not be read)."""

    type: str = "ROUTINE"
    definition: str | None = None


class LedgerEntry(_M):
    table: str
    source: str
    content_hash: str
    rows: int
    loaded_at: str | None = None
    run_id: str | None = None
    # From <ops>.load_key_ranges: the file's first key column, its min and max (strings,
    # CAST back to the column's type when observed) and the file's rows with a key there:
    # what the table must still hold for the file to count as loaded (None if not recorded).
    key_column: str | None = None
    key_min: str | None = None
    key_max: str | None = None
    key_rows: int | None = None


class Snapshot(_M):
    version: int = SNAPSHOT_VERSION
    project: str
    taken_at: str
    target: str = "local"
    datasets: dict[str, DatasetState] = Field(default_factory=dict)
    tables: dict[str, TableState] = Field(default_factory=dict)  # "dataset.table"
    ledger: list[LedgerEntry] = Field(default_factory=list)
    # Expectation observations per table: metric name -> observed value.
    observations: dict[str, dict[str, Any]] = Field(default_factory=dict)
    # Per existing load target: its rows, distinct declared keys and, per file the ledger
    # records, the distinct keys in that file's key range (reconcile.snapshot.loadchecks).
    load_checks: dict[str, dict[str, Any]] = Field(default_factory=dict)
    # Relocation checkpoints found in ops: dataset -> last completed step.
    checkpoints: dict[str, str] = Field(default_factory=dict)
    # Routines ("dataset.name"), read only for the reference scan (issue 17); None: not read.
    routines: dict[str, RoutineState] | None = None
    # Tables under a temporary-table name (TMP_PREFIX) that ops records this tool made,
    # with the same creation time: its crash leftovers. Any other is not the tool's.
    own_temp_tables: list[str] = Field(default_factory=list)
    requests: int = 0  # HTTP requests the snapshot took

    def tables_in(self, dataset: str) -> dict[str, TableState]:
        prefix = dataset + "."
        return {k: v for k, v in self.tables.items() if k.startswith(prefix)}

    def dataset_rows(self, dataset: str) -> int:
        return sum(t.rows or 0 for t in self.tables_in(dataset).values())

    def loaded(self, table: str, source: str, content_hash: str) -> bool:
        return any(e.table == table and e.source == source and e.content_hash == content_hash
                   for e in self.ledger)

    def to_json(self) -> str:
        return json.dumps(self.model_dump(mode="json"), indent=2, sort_keys=True) + "\n"

    def save(self, path: str | Path) -> None:
        Path(path).write_text(self.to_json(), encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> "Snapshot":
        from reconcile.spec.model import SpecError

        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise SpecError(path, "", "snapshot file not found") from None
        except (OSError, ValueError) as e:
            raise SpecError(path, "", f"not a snapshot JSON file: {e}") from None
        if not isinstance(data, dict) or data.get("version") != SNAPSHOT_VERSION:
            found = data.get("version") if isinstance(data, dict) else None
            raise SpecError(path, "version",
                            f"unsupported snapshot version {found!r}, expected {SNAPSHOT_VERSION}")
        try:
            return cls.model_validate(data)
        except Exception as e:  # pydantic ValidationError: keep one line
            raise SpecError(path, "", f"invalid snapshot: {str(e).splitlines()[0]}") from None

    def age(self, now: dt.datetime | None = None) -> dt.timedelta:
        taken = dt.datetime.fromisoformat(self.taken_at)
        return (now or dt.datetime.now(dt.timezone.utc)) - taken
