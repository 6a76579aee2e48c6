"""What the handlers of one run share: the adapter, the spec, dataset locations, the ops tables.

`Context` looks dataset locations up once and forgets one when a dataset is created or
deleted; it creates the ops tables (`<ops>.load_ledger`, `<ops>.relocation_checkpoints`,
...) from `sql/ops/*.sql` on first use, and keeps the load ledger and the relocation
checkpoints. `sql()` loads a statement from `sql/`; `pause()` is the crash tests' hook.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
import threading
import time
from typing import Any

from reconcile import identifiers as ids
from reconcile.apply.results import ActionFailed
from reconcile.bq.adapter import Adapter, BigQueryError, is_not_found, param
from reconcile.bq.sqltext import QuotedIdent, load_sql, qtable, render_text
from reconcile.plan.actions import Plan
from reconcile.plan.names import CHECKPOINTS_TABLE, KEY_RANGES_TABLE, LEDGER_TABLE, TEMP_TABLES_TABLE
from reconcile.spec.model import DesiredState

# The executor's log name, kept from before it was split into modules: the CLI prints
# its warnings as "WARNING reconcile.apply.executor: ...", and log filters match it.
EXECUTOR_LOG = "reconcile.apply.executor"

# Table types a copy job carries (views are not data: they are recreated from their SQL).
COPYABLE = frozenset({"TABLE", "SNAPSHOT", "CLONE"})

# Test hook: when RECONCILE_TEST_PAUSE_AT names a point ("relocate:<step>" after a step's
# checkpoint, "relocate:copy_out:tables_copied", "merge:merged", "migrate:copied"), the
# process prints a marker and sleeps there so a crash test can kill -9 it at a known
# place. Unset in normal use.
PAUSE_ENV = "RECONCILE_TEST_PAUSE_AT"
PAUSE_MARKER = "RECONCILE_PAUSED"


def pause(point: str) -> None:
    """The crash tests' hook (see PAUSE_ENV): announce the point, then wait to be killed."""
    if os.environ.get(PAUSE_ENV) == point:
        sys.stdout.write(f"{PAUSE_MARKER} {point}\n")
        sys.stdout.flush()
        time.sleep(float(os.environ.get("RECONCILE_TEST_PAUSE_SECONDS", "600")))


def sql(name: str, **idents: Any) -> str:
    """A statement from sql/, its comment lines dropped before the placeholders are filled
    (the emulator recognises CREATE SNAPSHOT TABLE only at the very start of the text;
    a view body or transform keeps its comments)."""
    text = "\n".join(line for line in load_sql(name).splitlines() if not line.lstrip().startswith("--"))
    return render_text(text.strip() + "\n", **idents)


class Context:
    """What handlers share during one run: the adapter, the spec, dataset locations
    (looked up once, forgotten when a dataset is created or deleted) and the ops
    tables, created on first use."""

    def __init__(self, plan: Plan, desired: DesiredState, adapter: Adapter, run_id: str):
        self.plan = plan
        self.d = desired
        self.adapter = adapter
        self.run_id = run_id
        self._locations: dict[str, str | None] = {}
        self._ops_ready: set[str] = set()
        # Actions run concurrently (reconcile.apply.run): the ops dataset and tables are
        # created once, by whichever needs them first.
        self._ops_lock = threading.RLock()
        # Steps of one action that may run at once (an ArchiveDataset's table copies): the
        # run's parallelism, 1 when it runs in sequence (set by reconcile.apply.run).
        self.parallelism = 1

    def q(self, ref: str) -> QuotedIdent:
        """`project`.`dataset`.`table` of a checked 'dataset.table', for a SQL template."""
        ds, t = ids.split_table_ref(ref)
        return qtable(self.adapter.project, ds, t)

    # -------------------------------------------------------------- datasets
    def location(self, dataset: str) -> str | None:
        if dataset not in self._locations:
            self._locations[dataset] = self.adapter.dataset_location(dataset)
        return self._locations[dataset]

    def forget(self, dataset: str) -> None:
        self._locations.pop(dataset, None)

    def forget_all(self) -> None:
        """Look everything up again (before retrying an action: what it changed before it
        failed is not known)."""
        self._locations.clear()
        self._ops_ready.clear()

    def need_dataset(self, dataset: str) -> str:
        loc = self.location(dataset)
        if loc is None:
            raise ActionFailed(f"dataset {dataset} does not exist")
        return loc

    def table_location(self, ref: str) -> str:
        return self.need_dataset(ref.split(".", 1)[0])

    def count(self, ref: str) -> int:
        return self.adapter.count_rows(ref, location=self.table_location(ref))

    def counts(self, refs: list[str]) -> dict[str, int]:
        """Exact counts, one query per location."""
        by_loc: dict[str, list[str]] = {}
        for r in refs:
            by_loc.setdefault(self.table_location(r), []).append(r)
        out: dict[str, int] = {}
        for loc, group in by_loc.items():
            out.update(self.adapter.count_rows_many(group, location=loc))
        return out

    # -------------------------------------------------------------- ops tables
    @property
    def ops(self) -> str:
        return self.d.ops_dataset

    def ops_location(self, create: bool = True) -> str | None:
        """The ops dataset's location; created (as the spec declares it) when missing:
        it is the tool's own bookkeeping, and a plan may need it before its own
        CreateDataset comes up in the order."""
        with self._ops_lock:
            return self._ops_location(create)

    def _ops_location(self, create: bool) -> str | None:
        loc = self.location(self.ops)
        if loc is None and create:
            spec = self.d.datasets.get(self.ops)
            self.adapter.create_dataset(self.ops, self.d.location_of(self.ops),
                                        spec.description if spec else None,
                                        dict(spec.labels) if spec else None)
            self.forget(self.ops)
            loc = self.need_dataset(self.ops)
        return loc

    def ops_table(self, name: str, create_sql: str | None = None) -> tuple[str, str]:
        """(ref, location) of an ops table, created from sql/ops/<name>.sql if missing.
        Looked at first: a get is one API request where the CREATE ... IF NOT EXISTS is a
        job (~100 ms against ~1 s on BigQuery, 3 against 25 ms on the local one)."""
        loc = self.ops_location()
        assert loc is not None
        ref = f"{self.ops}.{name}"
        with self._ops_lock:
            if ref not in self._ops_ready:
                if not self.adapter.table_exists(ref):
                    stmt = sql(create_sql or f"ops/{name}.sql", table=qtable(self.adapter.project, self.ops, name))
                    self.adapter.execute(stmt, location=loc, what=f"create {ref}")
                self._ops_ready.add(ref)
        return ref, loc

    def insert_ops(self, name: str, rows: list[dict[str, Any]], *, create: bool = True) -> bool:
        """Append `rows` to the ops table `name`; True once they are in.

        The INSERT is sent without a look at the table first (`ops_table`'s get: one API
        request per ops table per run, ~100 ms on BigQuery), where the ops dataset is
        known to be (to this run, else to the adapter). Only if BigQuery answers that the
        table or dataset is not found there, which means the statement wrote nothing, does
        it look: the table is created if missing (sql/ops/<name>.sql; the ops dataset too,
        unless `create=False`: then False, nothing written, as for the run records), or
        found where it is now (made meanwhile by another action, or moved), and the rows
        are sent once more. Any other failure is raised: the rows may be in, and sending
        them again could write them twice."""
        ref = f"{self.ops}.{name}"
        # The location this run looked up, else the one the adapter has seen (its lists and
        # gets, this run's or earlier): a stale one is answered "not found", and looked up.
        loc = self._locations.get(self.ops) or self.adapter.location_of(self.ops)
        if loc is not None:
            try:
                self.adapter.insert_rows_dml(ref, rows, location=loc)
                with self._ops_lock:
                    self._ops_ready.add(ref)
                return True
            except BigQueryError as e:
                if not is_not_found(e):
                    raise
            self.forget(self.ops)
            with self._ops_lock:
                self._ops_ready.discard(ref)
        else:
            self._locations[self.ops] = None  # the adapter has just looked: missing
        if not create and self.location(self.ops) is None:
            return False
        ref, loc = self.ops_table(name)
        self.adapter.insert_rows_dml(ref, rows, location=loc)
        return True

    def ledger_has(self, table: str, source: str, content_hash: str) -> bool:
        ledger = f"{self.ops}.{LEDGER_TABLE}"
        if self.location(self.ops) is None or not self.adapter.table_exists(ledger):
            return False
        with self._ops_lock:
            self._ops_ready.add(ledger)  # just seen: recording in it needs no look or CREATE
        rows = self.adapter.query(
            sql("ops/ledger_find.sql", table=qtable(self.adapter.project, self.ops, LEDGER_TABLE)),
            [param("table_ref", table), param("source", source), param("content_hash", content_hash)],
            location=self.location(self.ops), what="ledger lookup")
        return bool(rows and int(rows[0]["n"]))

    def record_ledger(self, entries: list[dict[str, Any]]) -> None:
        now = dt.datetime.now(dt.timezone.utc)
        rows = [{"table_ref": e["table_ref"], "source": e["source"], "content_hash": e["content_hash"],
                 "rows": int(e["rows"]), "rows_inserted": int(e.get("rows_inserted") or 0),
                 "rows_updated": int(e.get("rows_updated") or 0), "loaded_at": now,
                 "run_id": self.run_id} for e in entries]
        self.insert_ops(LEDGER_TABLE, rows)

    def record_key_range(self, table: str, source: str, content_hash: str, key_range: dict[str, Any]) -> None:
        """Record a merged file's first-key range (handlers.loads.load_key_range), just
        before its ledger row: how the snapshot sees the file's rows deleted since."""
        self.insert_ops(KEY_RANGES_TABLE, [{
            "table_ref": table, "source": source, "content_hash": content_hash,
            "key_column": key_range["key_column"], "key_min": key_range["key_min"],
            "key_max": key_range["key_max"], "key_rows": int(key_range["key_rows"]),
            "recorded_at": dt.datetime.now(dt.timezone.utc), "run_id": self.run_id}])

    # -------------------------------------------------------------- temporary tables
    def record_temp(self, ref: str, created_ms: int) -> None:
        """Record a temporary table this run made, with its creation time: what makes a
        leftover of it the tool's to drop after a crash (DESIGN.md "Ownership")."""
        ops_ref, loc = self.ops_table(TEMP_TABLES_TABLE)
        self.adapter.insert_rows_dml(ops_ref, [{"table_ref": ref, "created_ms": int(created_ms),
                                                "run_id": self.run_id,
                                                "recorded_at": dt.datetime.now(dt.timezone.utc)}],
                                     location=loc)

    def temp_is_ours(self, ref: str, created_ms: int) -> bool:
        """Whether ops records that this tool made the table `ref` created at `created_ms`."""
        if self.location(self.ops) is None or not self.adapter.table_exists(f"{self.ops}.{TEMP_TABLES_TABLE}"):
            return False
        rows = self.adapter.query(
            sql("ops/temp_find.sql", table=qtable(self.adapter.project, self.ops, TEMP_TABLES_TABLE)),
            [param("table_ref", ref), param("created_ms", int(created_ms))],
            location=self.location(self.ops), what="temporary table lookup")
        return bool(rows and int(rows[0]["n"]))

    def checkpoint(self, dataset: str, step: str) -> None:
        ref, loc = self.ops_table(CHECKPOINTS_TABLE)
        self.adapter.insert_rows_dml(ref, [{"dataset": dataset, "step": step,
                                            "at": dt.datetime.now(dt.timezone.utc),
                                            "run_id": self.run_id}], location=loc)
