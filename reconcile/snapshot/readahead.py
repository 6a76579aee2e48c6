"""Reading ahead: the snapshot's observation queries sent in its first round of queries,
built from what the previous read of the same warehouse found, instead of in a second
round once TABLES, COLUMNS and the load ledger have answered.

The observations (reconcile.snapshot.observe, .loadchecks) depend on the first round:
which tables exist with expectations, their columns, the ledger's key ranges. A warehouse
that did not change since the last read answers as it did then, so the last read's
answers build the very same queries. The snapshot then builds its observation queries
from what the first round said; a query whose text, parameters and location equal one
sent ahead takes that query's answer (`Ahead.answer`); any other is sent then. So a
record that is stale, missing, unreadable or of another warehouse costs requests (and,
on BigQuery, the bytes of a scan whose answer is not used), never a wrong result: an
answer is only ever used for the query that produced it, and under BigQuery's latency
the converged warehouse's snapshot is one round of queries instead of two.

The record (`Seen`) is small: the tables the last read observed (their type and
columns), the ledger entries of the load targets (with each file's first-key range, as
<ops>.load_key_ranges holds it), the datasets' locations. No observed metric, no
credential. Its names and values only ever reach a query validated and quoted, or as
parameters, as the snapshot's own do: a tampered record costs requests, like a stale one. It lives in the project, `.reconcile/read-ahead-<target>.json`
(`record_path`); `load` and `save` never raise: a record that cannot be read or written
is only a slower read.

`observation_inputs` is what the snapshot observes given round-one answers (pure; used
for the read ahead and for the real thing, so both build their queries the same way).
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from reconcile import identifiers as ids
from reconcile.snapshot.loadchecks import load_metrics
from reconcile.snapshot.model import ColumnState, LedgerEntry

if TYPE_CHECKING:
    from reconcile.snapshot.model import Snapshot
    from reconcile.spec.model import DesiredState

log = logging.getLogger(__name__)

RECORD_VERSION = 1
RECORD_DIR = ".reconcile"
# Types whose data expectations are observed (as reconcile.snapshot.read).
OBSERVED = frozenset({"TABLE", "CLONE"})


@dataclass
class Inputs:
    """What the snapshot observes: `tables` for observe_many ((ref, location, expectations or
    None, columns)), the load checks' `extra` metrics and the load targets that exist."""
    tables: list[tuple[str, str, Any, list[ColumnState] | None]]
    extra: dict[str, tuple[list[tuple[str, str, str | None]], list[Any]]]
    load_targets: set[str]


def expectations_of(desired: DesiredState, types: dict[str, str]) -> dict[str, Any]:
    """The expectations of each existing table whose data is observed (pure: no request)."""
    expectations: dict[str, Any] = {}
    for ref, typ in types.items():
        if typ in OBSERVED:
            try:
                ids.split_table_ref(ref)  # BigQuery allows names this tool cannot quote
            except ids.IdentifierError as e:
                log.warning("not observing %s: %s", ref, e)
                continue
            exp = desired.expectations_for(ref)
            if exp is not None and not exp.is_empty():
                expectations[ref] = exp
    return expectations


def observation_inputs(desired: DesiredState, locations: dict[str, str], types: dict[str, str],
                       cols_of: Callable[[str], list[ColumnState] | None], ledger: list[LedgerEntry],
                       param: Callable[[str, Any], Any], expectations: dict[str, Any] | None = None) -> Inputs:
    """The observations of the tables `types` names (ref -> TableState.type) that exist with
    expectations or as load targets; `param(name, value)` types a query parameter;
    `expectations`: `expectations_of(desired, types)` if the caller has it already."""
    if expectations is None:
        expectations = expectations_of(desired, types)
    load_targets = {ld.table for ld in desired.loads if types.get(ld.table) in OBSERVED}
    extra = {ref: (wanted, [param(n, v) for n, v in params]) for ref, (wanted, params)
             in load_metrics(desired, {ref: cols_of(ref) for ref in load_targets}, ledger).items()}
    refs = sorted(set(expectations) | set(extra))
    tables = [(ref, locations[ref.split(".", 1)[0]], expectations.get(ref), cols_of(ref)) for ref in refs]
    return Inputs(tables=tables, extra=extra, load_targets=load_targets)


# ------------------------------------------------------------------ the record

@dataclass(frozen=True)
class Seen:
    """What a read found that its observation queries were built from."""
    project: str
    locations: dict[str, str]
    types: dict[str, str]
    columns: dict[str, list[ColumnState] | None]
    ledger: list[LedgerEntry] = field(default_factory=list)

    def cols_of(self, ref: str) -> list[ColumnState] | None:
        return self.columns.get(ref)


def seen_in(snapshot: Snapshot, desired: DesiredState) -> Seen:
    """The part of a snapshot the next read ahead needs: the tables it observed."""
    observed = sorted(set(snapshot.observations) | set(snapshot.load_checks))
    targets = {ld.table for ld in desired.loads}
    datasets = {ref.split(".", 1)[0] for ref in observed}
    return Seen(project=snapshot.project,
                locations={ds: st.location for ds, st in snapshot.datasets.items() if ds in datasets},
                types={ref: snapshot.tables[ref].type for ref in observed if ref in snapshot.tables},
                columns={ref: snapshot.tables[ref].columns for ref in observed if ref in snapshot.tables},
                ledger=[e for e in snapshot.ledger if e.table in targets])


def record_path(root: str | Path, target: str) -> Path:
    """Where a project keeps its read-ahead record for a target (inside the project)."""
    name = target if re.fullmatch(r"[A-Za-z0-9_-]{1,64}", target) else "target"
    return Path(root) / RECORD_DIR / f"read-ahead-{name}.json"


def save(path: Path, seen: Seen) -> None:
    """Write the record (atomically: a reader sees the old one or the new one); never raises."""
    data = {"version": RECORD_VERSION, "project": seen.project, "locations": seen.locations,
            "types": seen.types,
            "columns": {ref: None if cols is None else [c.model_dump() for c in cols]
                        for ref, cols in seen.columns.items()},
            "ledger": [e.model_dump() for e in seen.ledger]}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        tmp.write_text(json.dumps(data, sort_keys=True), encoding="utf-8")
        tmp.replace(path)
    except OSError as e:
        log.debug("read-ahead record not written (%s): %s", path, e)


def load(path: Path, project: str) -> Seen | None:
    """The record at `path` if it is one of this project's; None otherwise (never raises)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("version") != RECORD_VERSION or data.get("project") != project:
            return None
        return Seen(project=project, locations=dict(data["locations"]), types=dict(data["types"]),
                    columns={ref: None if cols is None else [ColumnState(**c) for c in cols]
                             for ref, cols in data["columns"].items()},
                    ledger=[LedgerEntry(**e) for e in data["ledger"]])
    except FileNotFoundError:
        return None
    except Exception as e:  # noqa: BLE001 - a record that does not read is no record
        log.debug("read-ahead record ignored (%s): %s", path, e)
        return None


# ------------------------------------------------------------------ the answers

def query_key(sql: str, params: list[Any], location: str) -> str:
    """A query's identity: its text, its parameters (name, type, value) and its location."""
    return json.dumps([location, sql, [p.to_api_repr() for p in params]], sort_keys=True, default=str)


class Ahead:
    """The answers of the queries sent ahead, by `query_key`. `send` is the query function
    for the read ahead (a query that fails leaves no answer: the same query, if the
    snapshot needs it, is sent again and its error is then the snapshot's)."""

    def __init__(self, run: Callable[[str, list[Any], str], list[dict[str, Any]]]) -> None:
        self._run = run
        self._answers: dict[str, list[dict[str, Any]]] = {}
        self._mu = threading.Lock()

    def send(self, sql: str, params: list[Any], location: str) -> list[dict[str, Any]]:
        try:
            rows = self._run(sql, params, location)
        except Exception as e:  # noqa: BLE001 - see the class docstring
            log.debug("observation read ahead failed (sent again if needed): %s", e)
            return []
        with self._mu:
            self._answers[query_key(sql, params, location)] = rows
        return rows

    def answer(self, sql: str, params: list[Any], location: str) -> list[dict[str, Any]] | None:
        with self._mu:
            return self._answers.get(query_key(sql, params, location))
