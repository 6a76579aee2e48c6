"""Apply: carry out a Plan's actions against BigQuery, and record what happened.

Side effects live here (the planner is pure). `apply()` walks the plan in its order
and dispatches each action to one function in `EXECUTORS`, a registry keyed by the
action class; a type it does not know raises `UnknownAction` before anything runs.
A dry run dispatches to `DESCRIBERS` instead and sends no request at all.

Promises, each kept by every executor function:

* Check before acting. Each function first looks at the live object (exists? how
  many rows? already in the ledger?) and does only what is still missing, so a
  retry, or a rerun after a crash, finishes the job without duplicating anything.
* Data stays in BigQuery: loads go file -> temporary table -> one MERGE on the
  declared keys (never WRITE_TRUNCATE, never CREATE OR REPLACE TABLE); copies are
  copy jobs (they cross regions, queries do not); counts are exact COUNT(*).
* Nothing is deleted before its copy is verified: a migration's backup must exist,
  a relocation deletes the old dataset only after every table's copy has the same
  row count, an archive deletes a source dataset only if allowed and not kept.
* Diagnostics and flags are reported ('skipped'), never acted on; an action the
  plan blocks is 'blocked', and so is any later action on the same table or dataset
  as one that failed or was blocked in this run.
* Every job carries the run id label (the adapter adds it), and the run's outcomes
  are written to `<ops>.run_records`.

`lease()` keeps two applies off the same project at once (`<ops>.lease`).

This module does not import Prefect: flows wrap `apply` (or single actions) in tasks.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import secrets
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from reconcile import identifiers as ids
from reconcile.plan.actions import (
    Action, AddColumns, ArchiveDataset, BackupTable, CreateDataset, CreateTable, CreateView,
    ExpectationFailed, FlagRecreate, FlagSchemaConflict, MergeLoad, MigrateTable, MissingSource,
    Plan, RefuseLoad, RelocateDataset, RunTransform, UnknownAction, Unmanaged, Validate,
)
from reconcile.bq.adapter import Adapter, BigQueryError, param
from reconcile.plan.planner import (
    MIGRATION_SOURCE_PREFIX, RELOCATION_SUFFIX, TRANSFORM_SOURCE_PREFIX, archive_name, evaluate,
    expectations_with_floors, normalize_view_sql, replacement_backup, transform_fingerprint,
)
from reconcile.spec.sources import file_hash
from reconcile.spec.model import DesiredState
from reconcile.bq.sqltext import QuotedIdent, load_sql, qcol, qtable, render_text

log = logging.getLogger(__name__)

STATUSES = ("done", "noop", "skipped", "blocked", "failed", "dry-run")

# Backups are insurance for the migration that follows, not an archive: they expire.
BACKUP_EXPIRY_DAYS = 90
# Temporary load tables are dropped at once; the expiry only cleans up after a crash
# (on BigQuery: the emulator ignores table expirations, see docs/emulator.md).
TMP_PREFIX = "_reconcile_tmp_"
TMP_EXPIRY_MS = 24 * 3600 * 1000
# A relocation's steps, in order; each is recorded in <ops>.relocation_checkpoints
# once complete, and a resumed relocation starts after the last one recorded.
RELOCATION_STEPS = ("copy_out", "verify_out", "delete_old", "recreate", "copy_back",
                    "verify_back", "drop_temp", "done")
# Views cannot be copied (a copy job copies data) nor created in the temporary
# dataset (on BigQuery a view's query must resolve in its own location), so a
# relocating dataset's view definitions are kept as one-row tables in the
# temporary dataset and the views are recreated after the copy back.
VIEW_RECORD_PREFIX = "_reconcile_view__"
COPYABLE = frozenset({"TABLE", "SNAPSHOT", "CLONE"})

LEASE_TABLE = "lease"
LEASE_TTL_SECONDS = 900
LEDGER_TABLE = "load_ledger"
CHECKPOINTS_TABLE = "relocation_checkpoints"
RUN_RECORDS_TABLE = "run_records"
RUN_RECORDS_PER_INSERT = 200  # rows per INSERT statement (10 parameters each)

# Test hook: when RECONCILE_TEST_PAUSE_AT names a point ("relocate:<step>" after a step's
# checkpoint, "relocate:copy_out:tables_copied", "merge:merged", "migrate:copied"), the process prints a marker and sleeps there so
# a crash test can kill -9 it at a known place. Unset in normal use.
PAUSE_ENV = "RECONCILE_TEST_PAUSE_AT"
PAUSE_MARKER = "RECONCILE_PAUSED"


# ====================================================================== results


@dataclass(frozen=True)
class Outcome:
    key: str
    kind: str
    target: str
    status: str  # one of STATUSES
    detail: str
    observed: dict = field(default_factory=dict)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "kind": self.kind, "target": self.target, "status": self.status,
                "detail": self.detail, "observed": self.observed, "seconds": round(self.seconds, 3)}


@dataclass(frozen=True)
class ApplyResult:
    run_id: str
    outcomes: tuple[Outcome, ...]
    ok: bool  # no outcome 'failed'

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for o in self.outcomes:
            out[o.status] = out.get(o.status, 0) + 1
        return out

    def by_key(self) -> dict[str, Outcome]:
        return {o.key: o for o in self.outcomes}


class ActionFailed(RuntimeError):
    """An executor function found it must not (or could not) finish: the outcome is
    'failed' with this message and whatever it had observed."""

    def __init__(self, detail: str, observed: dict | None = None):
        super().__init__(detail)
        self.detail = detail
        self.observed = observed or {}


@dataclass(frozen=True)
class _Done:
    status: str  # 'done' | 'noop'
    detail: str
    observed: dict = field(default_factory=dict)


def _done(detail: str, **observed: Any) -> _Done:
    return _Done("done", detail, observed)


def _noop(detail: str, **observed: Any) -> _Done:
    return _Done("noop", detail, observed)


def new_run_id() -> str:
    """A run id that sorts by time and fits a BigQuery label value: 20251119t120000z-1a2b3c4d."""
    now = dt.datetime.now(dt.timezone.utc)
    return f"{now:%Y%m%dt%H%M%Sz}-{secrets.token_hex(4)}"


# ====================================================================== context


class _Context:
    """What executor functions share during one run: the adapter, the spec, dataset
    locations (looked up once, forgotten when a dataset is created or deleted) and
    the ops tables, created on first use."""

    def __init__(self, plan: Plan, desired: DesiredState, adapter: Adapter, run_id: str):
        self.plan = plan
        self.d = desired
        self.adapter = adapter
        self.run_id = run_id
        self._locations: dict[str, str | None] = {}
        self._ops_ready: set[str] = set()

    # -------------------------------------------------------------- datasets
    def location(self, dataset: str) -> str | None:
        if dataset not in self._locations:
            self._locations[dataset] = self.adapter.dataset_location(dataset)
        return self._locations[dataset]

    def forget(self, dataset: str) -> None:
        self._locations.pop(dataset, None)

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
        """(ref, location) of an ops table, created from sql/ops/<name>.sql if missing."""
        loc = self.ops_location()
        assert loc is not None
        ref = f"{self.ops}.{name}"
        if ref not in self._ops_ready:
            sql = _sql(create_sql or f"ops/{name}.sql", table=qtable(self.adapter.project, self.ops, name))
            self.adapter.execute(sql, location=loc, what=f"create {ref}")
            self._ops_ready.add(ref)
        return ref, loc

    def ledger_has(self, table: str, source: str, content_hash: str) -> bool:
        if self.location(self.ops) is None or not self.adapter.table_exists(f"{self.ops}.{LEDGER_TABLE}"):
            return False
        rows = self.adapter.query(
            _sql("ops/ledger_find.sql", table=qtable(self.adapter.project, self.ops, LEDGER_TABLE)),
            [param("table_ref", table), param("source", source), param("content_hash", content_hash)],
            location=self.location(self.ops), what="ledger lookup")
        return bool(rows and int(rows[0]["n"]))

    def record_ledger(self, entries: list[dict[str, Any]]) -> None:
        ref, loc = self.ops_table(LEDGER_TABLE)
        now = dt.datetime.now(dt.timezone.utc)
        rows = [{"table_ref": e["table_ref"], "source": e["source"], "content_hash": e["content_hash"],
                 "rows": int(e["rows"]), "rows_inserted": int(e.get("rows_inserted") or 0),
                 "rows_updated": int(e.get("rows_updated") or 0), "loaded_at": now,
                 "run_id": self.run_id} for e in entries]
        self.adapter.insert_rows_dml(ref, rows, location=loc)

    def checkpoint(self, dataset: str, step: str) -> None:
        ref, loc = self.ops_table(CHECKPOINTS_TABLE)
        self.adapter.insert_rows_dml(ref, [{"dataset": dataset, "step": step,
                                            "at": dt.datetime.now(dt.timezone.utc),
                                            "run_id": self.run_id}], location=loc)


def _sql(name: str, **idents: Any) -> str:
    """A statement from sql/, its comment lines dropped before the placeholders are filled
    (the emulator recognises CREATE SNAPSHOT TABLE only at the very start of the text;
    a view body or transform keeps its comments)."""
    text = "\n".join(line for line in load_sql(name).splitlines() if not line.lstrip().startswith("--"))
    return render_text(text.strip() + "\n", **idents)


def _q(ctx: _Context, ref: str) -> QuotedIdent:
    ds, t = ids.split_table_ref(ref)
    return qtable(ctx.adapter.project, ds, t)


def _pause(point: str) -> None:
    """The crash tests' hook (see PAUSE_ENV): announce the point, then wait to be killed."""
    if os.environ.get(PAUSE_ENV) == point:
        sys.stdout.write(f"{PAUSE_MARKER} {point}\n")
        sys.stdout.flush()
        time.sleep(float(os.environ.get("RECONCILE_TEST_PAUSE_SECONDS", "600")))


# ====================================================================== datasets


def _create_dataset(ctx: _Context, a: CreateDataset) -> _Done:
    loc = ctx.location(a.name)
    if loc is not None:
        if ids.same_location(loc, a.location):
            return _noop(f"exists in {loc}", location=loc)
        raise ActionFailed(f"exists in {loc}, declared in {a.location}: approve a relocation",
                           {"location": loc})
    ctx.adapter.create_dataset(a.name, a.location, a.description, dict(a.labels) or None)
    ctx.forget(a.name)
    loc = ctx.need_dataset(a.name)
    if not ids.same_location(loc, a.location):
        raise ActionFailed(f"created, but it reports location {loc}, not {a.location}", {"location": loc})
    return _done(f"created in {loc}", location=loc)


def _relocate_dataset(ctx: _Context, a: RelocateDataset) -> _Done:
    if a.name == ctx.ops:
        raise ActionFailed(f"{a.name} is the ops dataset that records the relocation's own "
                           "checkpoints: move it by hand (copy jobs), then re-plan")
    if a.resume_step is not None and a.resume_step not in RELOCATION_STEPS:
        raise ActionFailed(f"unknown checkpoint {a.resume_step!r} (steps: {', '.join(RELOCATION_STEPS)})")
    start = 0 if a.resume_step is None else RELOCATION_STEPS.index(a.resume_step) + 1
    r = _Relocation(ctx, a)
    done: list[str] = []
    for step in RELOCATION_STEPS[start:]:
        getattr(r, step)()
        ctx.checkpoint(a.name, step)
        done.append(step)
        log.info("relocation of %s: %s done", a.name, step)
        _pause(f"relocate:{step}")
    resumed = f" (resumed after {a.resume_step})" if a.resume_step else ""
    return _done(f"relocated {a.name} to {a.to_location}: {len(r.tables)} table(s), "
                 f"{sum(r.rows.values()):,} rows, {len(r.views)} view(s) verified{resumed}",
                 steps=done, tables=len(r.tables), rows=sum(r.rows.values()),
                 views=sorted(r.views), to_location=a.to_location)


class _Relocation:
    """One dataset moved to another region through `<name>__relocating`, step by step.
    Every step is idempotent: it looks at what exists and does only the rest."""

    def __init__(self, ctx: _Context, a: RelocateDataset):
        self.ctx = ctx
        self.a = a
        self.ad = ctx.adapter
        self.name = a.name
        self.temp = a.name + RELOCATION_SUFFIX
        self.to = a.to_location
        self.tables: list[str] = []  # table names carried (views excluded)
        self.views: dict[str, str] = {}  # view name -> SQL
        self.rows: dict[str, int] = {}  # table name -> verified count

    # helpers
    def _old_objects(self) -> list[tuple[str, str]]:
        objs = self.ad.list_tables(self.name)
        bad = [f"{n} ({t})" for n, t in objs if t not in COPYABLE and t != "VIEW"]
        if bad:
            raise ActionFailed(f"cannot relocate {', '.join(bad)}: copy jobs carry tables only; "
                               "move these by hand, then resume")
        return objs

    def _temp_objects(self) -> dict[str, str]:
        return dict(self.ad.list_tables(self.temp))

    def _compare(self, a_ds: str, b_ds: str, names: list[str]) -> dict[str, tuple[int, int]]:
        """Exact counts of the same tables in two datasets: name -> (a, b)."""
        a_loc, b_loc = self.ctx.need_dataset(a_ds), self.ctx.need_dataset(b_ds)
        ca = self.ad.count_rows_many([f"{a_ds}.{n}" for n in names], location=a_loc)
        cb = self.ad.count_rows_many([f"{b_ds}.{n}" for n in names], location=b_loc)
        return {n: (ca[f"{a_ds}.{n}"], cb[f"{b_ds}.{n}"]) for n in names}

    def _view_records(self) -> dict[str, str]:
        """View name -> SQL saved in the temporary dataset."""
        loc = self.ctx.need_dataset(self.temp)
        out = {}
        for n, _ in self.ad.list_tables(self.temp):
            if n.startswith(VIEW_RECORD_PREFIX):
                rows = self.ad.query(_sql("apply/read_view_record.sql", table=_q(self.ctx, f"{self.temp}.{n}")),
                                     location=loc, what=f"read saved view {n}")
                if rows:
                    out[n[len(VIEW_RECORD_PREFIX):]] = rows[0]["view_sql"]
        return out

    def _verify(self, src: str, dst: str, names: list[str]) -> None:
        missing = [n for n in names if n not in dict(self.ad.list_tables(dst))]
        if missing:
            raise ActionFailed(f"{dst} lacks {', '.join(missing)}: not going on")
        pairs = self._compare(src, dst, names)
        wrong = {n: p for n, p in pairs.items() if p[0] != p[1]}
        if wrong:
            raise ActionFailed("row counts differ: " + ", ".join(
                f"{n}: {a:,} in {src}, {b:,} in {dst}" for n, (a, b) in sorted(wrong.items())),
                {"counts": {n: list(p) for n, p in pairs.items()}})
        self.rows = {n: p[1] for n, p in pairs.items()}

    def _carried(self) -> list[str]:
        """The tables carried by the temporary dataset (its view records excluded)."""
        return sorted(n for n, _ in self.ad.list_tables(self.temp) if not n.startswith(VIEW_RECORD_PREFIX))

    # steps
    def copy_out(self) -> None:
        old_loc = self.ctx.need_dataset(self.name)
        if ids.same_location(old_loc, self.to):
            raise ActionFailed(f"{self.name} is already in {self.to}: nothing to relocate")
        temp_loc = self.ctx.location(self.temp)
        if temp_loc is None:
            self.ad.create_dataset(self.temp, self.to, f"relocation of {self.name} to {self.to} in progress")
            self.ctx.forget(self.temp)
        elif not ids.same_location(temp_loc, self.to):
            raise ActionFailed(f"{self.temp} exists in {temp_loc}, not {self.to}: remove it by hand")
        objs = self._old_objects()
        self.tables = sorted(n for n, t in objs if t in COPYABLE)
        view_names = sorted(n for n, t in objs if t == "VIEW")
        # No checkpoint precedes this step, so whatever the temporary dataset holds was left
        # by an attempt that never verified it (and the old tables may have changed since):
        # it is ours, and it is replaced, never trusted.
        for n in sorted(self._temp_objects()):
            self.ad.delete_table(f"{self.temp}.{n}")
        for n in self.tables:
            self.ad.copy_table(f"{self.name}.{n}", f"{self.temp}.{n}")
        _pause("relocate:copy_out:tables_copied")
        if view_names:
            defs = self.ad.view_definitions(self.name, location=old_loc)
            for v in view_names:
                rec = f"{self.temp}.{VIEW_RECORD_PREFIX}{v}"
                self.ad.create_table(rec, [("view_sql", "STRING", "NULLABLE")],
                                     description=f"definition of view {self.name}.{v} during relocation")
                self.ad.insert_rows_dml(rec, [{"view_sql": defs[v]}], location=self.to)
                self.views[v] = defs[v]

    def verify_out(self) -> None:
        objs = self._old_objects()
        self.tables = sorted(n for n, t in objs if t in COPYABLE)
        self._verify(self.name, self.temp, self.tables)
        self.views = self._view_records()
        lost = [n for n, t in objs if t == "VIEW" and n not in self.views]
        if lost:
            raise ActionFailed(f"definitions of view(s) {', '.join(lost)} not saved: not going on")

    def delete_old(self) -> None:
        loc = self.ctx.location(self.name)
        if loc is None:
            return  # deleted before a crash, after verify_out was recorded
        if ids.same_location(loc, self.to):
            return  # already recreated (crash after recreate, before its checkpoint)
        # Verified once more, right before the only irreversible step.
        self.verify_out()
        self.ad.delete_dataset(self.name)
        self.ctx.forget(self.name)

    def recreate(self) -> None:
        loc = self.ctx.location(self.name)
        if loc is None:
            spec = self.ctx.d.datasets.get(self.name)
            self.ad.create_dataset(self.name, self.to, spec.description if spec else None,
                                   dict(spec.labels) if spec and spec.labels else None)
            self.ctx.forget(self.name)
            loc = self.ctx.need_dataset(self.name)
        if not ids.same_location(loc, self.to):
            raise ActionFailed(f"{self.name} exists in {loc}, not {self.to}")

    def copy_back(self) -> None:
        self.tables = self._carried()
        have = dict(self.ad.list_tables(self.name))
        present = [n for n in self.tables if n in have]
        counts = self._compare(self.temp, self.name, present) if present else {}
        for n in self.tables:
            if n in have:
                if counts[n][0] == counts[n][1]:
                    continue
                self.ad.delete_table(f"{self.name}.{n}")  # the recreated dataset is ours
            self.ad.copy_table(f"{self.temp}.{n}", f"{self.name}.{n}")
        self.views = self._view_records()
        for v, sql in sorted(self.views.items()):
            ds, t = ids.split_table_ref(f"{self.name}.{v}")
            self.ad.execute(_sql("apply/create_view.sql", view=qtable(self.ad.project, ds, t),
                                       body=QuotedIdent(sql)),
                            location=self.to, what=f"recreate view {self.name}.{v}")

    def verify_back(self) -> None:
        self.tables = self._carried()
        self._verify(self.temp, self.name, self.tables)
        self.views = self._view_records()
        have = dict(self.ad.list_tables(self.name))
        lost = [v for v in self.views if have.get(v) != "VIEW"]
        if lost:
            raise ActionFailed(f"view(s) {', '.join(lost)} not recreated in {self.name}")

    def drop_temp(self) -> None:
        if self.ctx.location(self.temp) is not None and not self.rows:
            # Resumed right here: re-verify before dropping the only other copy.
            self.verify_back()
        self.ad.delete_dataset(self.temp)
        self.ctx.forget(self.temp)

    def done(self) -> None:
        pass


# ====================================================================== tables and views


def _create_table(ctx: _Context, a: CreateTable) -> _Done:
    loc = ctx.table_location(a.table)
    if ctx.adapter.table_exists(a.table):
        return _noop("exists")
    if a.ddl_file:
        stmt = ctx.d.ddl_statements.get(a.table)
        if not stmt:
            raise ActionFailed(f"no DDL statement for {a.table} in {a.ddl_file}")
        ctx.adapter.execute(stmt, location=loc, what=f"DDL for {a.table}")
        how = f"from {a.ddl_file}"
    else:
        ctx.adapter.create_table(a.table, a.columns, partition_by=a.partition_by,
                                 partition_granularity=a.partition_granularity,
                                 cluster_by=a.cluster_by, description=a.description,
                                 labels=dict(a.labels) or None)
        how = f"{len(a.columns)} columns"
    if not ctx.adapter.table_exists(a.table):
        raise ActionFailed(f"the statement ran but {a.table} does not exist")
    return _done(f"created ({how})", location=loc)


def _add_columns(ctx: _Context, a: AddColumns) -> _Done:
    ctx.table_location(a.table)
    schema = ctx.adapter.get_schema(a.table)
    if schema is None:
        raise ActionFailed(f"{a.table} does not exist")
    have = {f.name.lower() for f in schema}
    missing = [c for c in a.columns if c[0].lower() not in have]
    if not missing:
        return _noop("columns present")
    ctx.adapter.add_columns(a.table, missing)
    return _done(f"added {', '.join(f'{n} {t}' for n, t, _ in missing)}",
                 columns=[n for n, _, _ in missing])


def _norm_view_sql(sql: str) -> str:
    return normalize_view_sql(sql)


def _create_view(ctx: _Context, a: CreateView) -> _Done:
    body = ctx.d.view_sql.get(a.view)
    if not body:
        raise ActionFailed(f"no SQL for view {a.view} ({a.sql_file})")
    ds, t = ids.split_table_ref(a.view)
    loc = ctx.need_dataset(ds)
    live = dict(ctx.adapter.list_tables(ds)).get(t)
    if live is not None and live != "VIEW":
        raise ActionFailed(f"{a.view} exists as a {live}: not replacing data with a view")
    if live == "VIEW":
        current = ctx.adapter.view_definitions(ds, location=loc).get(t)
        if current is not None and _norm_view_sql(current) == _norm_view_sql(body):
            return _noop("view exists with this definition")
    ctx.adapter.execute(_sql("apply/create_view.sql", view=_q(ctx, a.view), body=QuotedIdent(body)),
                        location=loc, what=f"view {a.view}")
    return _done(("replaced" if live else "created") + f" from {a.sql_file}")


# ====================================================================== loads


def tmp_table_for(a: MergeLoad) -> str:
    """The temporary table of one load: fixed per (table, file path), so a rerun finds
    and drops a leftover from a crashed run before loading again."""
    ds = a.table.split(".", 1)[0]
    digest = hashlib.sha256(f"{a.table}<-{a.source}".encode()).hexdigest()[:8]
    return f"{ds}.{TMP_PREFIX}{digest}"


def merge_sql(ctx_project: str, a: MergeLoad, tmp: str) -> str:
    """The one MERGE of a load, from the file's columns and the declared keys."""
    cols = [c for c, _ in a.columns]
    keys = list(a.keys)
    others = [c for c in cols if c not in keys]
    tds, tt = ids.split_table_ref(a.table)
    sds, st = ids.split_table_ref(tmp)

    def qi(text: str) -> QuotedIdent:
        return QuotedIdent(text)

    idents = dict(
        target=qtable(ctx_project, tds, tt),
        source=qtable(ctx_project, sds, st),
        on=qi(" AND ".join(f"T.{qcol(k)} = S.{qcol(k)}" for k in keys)),
        columns=qi(", ".join(qcol(c) for c in cols)),
        values=qi(", ".join(f"S.{qcol(c)}" for c in cols)),
    )
    if not others:
        return _sql("apply/merge_insert_only.sql", **idents)
    return _sql(
        "apply/merge.sql", **idents,
        changed=qi(" OR ".join(f"T.{qcol(c)} IS DISTINCT FROM S.{qcol(c)}" for c in others)),
        assignments=qi(", ".join(f"{qcol(c)} = S.{qcol(c)}" for c in others)),
    )


def _load_file(ctx: _Context, path: Path, table: str, tmp: str, location: str) -> None:
    """A staging file into the (empty) temporary table with a load job. A CSV seed is
    typed by the table's declared columns, exactly as the gate read it, and sent as
    Parquet: one load path, no type guessing on either side."""
    if path.suffix.lower() != ".csv":
        ctx.adapter.load_parquet(path, tmp, location=location)
        return
    import pyarrow.parquet as pq

    from reconcile.spec.sources import read_csv

    data = read_csv(path, ctx.d.columns_of(table) or [])
    with tempfile.TemporaryDirectory(prefix="reconcile-") as d:
        staged = Path(d) / (path.stem + ".parquet")
        pq.write_table(data, staged)
        ctx.adapter.load_parquet(staged, tmp, location=location)


def _merge_load(ctx: _Context, a: MergeLoad) -> _Done:
    path = ctx.d.path(a.source)
    if not path.is_file():
        raise ActionFailed(f"{a.source} is gone since the plan: table untouched")
    # The gate passed on these exact bytes: anything else is a different file.
    now_hash = file_hash(path)
    if now_hash != a.content_hash:
        raise ActionFailed(f"{a.source} changed since the plan (hash {now_hash[:12]}, planned "
                           f"{a.content_hash[:12]}): re-plan; table untouched",
                           {"content_hash": now_hash, "planned_hash": a.content_hash})
    loc = ctx.table_location(a.table)
    if not ctx.adapter.table_exists(a.table):
        raise ActionFailed(f"{a.table} does not exist")
    if ctx.ledger_has(a.table, a.source, a.content_hash):
        return _noop("this file (same content hash) is already in the load ledger")
    tmp = tmp_table_for(a)
    ctx.adapter.delete_table(tmp)  # a leftover of a crashed run would double the rows
    ctx.adapter.create_table(tmp, [(c, t, "NULLABLE") for c, t in a.columns],
                             description=f"reconcile: temporary load of {a.source} (run {ctx.run_id})",
                             expires_ms=TMP_EXPIRY_MS)
    try:
        _load_file(ctx, path, a.table, tmp, loc)
        staged = ctx.count(tmp)
        if staged != a.rows:
            raise ActionFailed(f"loaded {staged:,} rows into {tmp}, the file has {a.rows:,}: table untouched",
                               {"staged_rows": staged, "file_rows": a.rows})
        before = ctx.count(a.table)
        stats = ctx.adapter.run_dml(merge_sql(ctx.adapter.project, a, tmp), location=loc,
                                    what=f"MERGE into {a.table}")
        _pause("merge:merged")
        after = ctx.count(a.table)
    finally:
        ctx.adapter.delete_table(tmp)
    inserted = stats.inserted if stats.inserted is not None else after - before
    updated = stats.updated if stats.updated is not None else stats.affected - inserted
    ctx.record_ledger([{"table_ref": a.table, "source": a.source, "content_hash": a.content_hash,
                        "rows": a.rows, "rows_inserted": inserted, "rows_updated": updated}])
    return _done(f"merged {a.rows:,} file rows on ({', '.join(a.keys)}): {inserted:,} inserted, "
                 f"{updated:,} updated; table {before:,} -> {after:,} rows",
                 file_rows=a.rows, rows_before=before, rows_after=after, inserted=inserted,
                 updated=updated)


# ====================================================================== backups and migrations


def _backup_table(ctx: _Context, a: BackupTable) -> _Done:
    src_loc = ctx.table_location(a.source)
    bk_loc = ctx.table_location(a.backup)
    if not ctx.adapter.table_exists(a.source):
        raise ActionFailed(f"{a.source} does not exist")
    n = ctx.count(a.source)
    if ctx.adapter.table_exists(a.backup):
        have = ctx.count(a.backup)
        if have == n:
            return _noop(f"backup exists with {have:,} rows", rows=have)
        raise ActionFailed(f"{a.backup} exists with {have:,} rows, {a.source} has {n:,}: "
                           "not overwriting a backup; rename or remove it by hand",
                           {"backup_rows": have, "source_rows": n})
    if ids.same_location(src_loc, bk_loc):
        # A table snapshot: BigQuery bills only what later changes in the base table.
        bds, bt = ids.split_table_ref(a.backup)
        ctx.adapter.execute(_sql("apply/snapshot_table.sql", backup=qtable(ctx.adapter.project, bds, bt),
                                       source=_q(ctx, a.source)),
                            location=src_loc, what=f"snapshot {a.source}")
        how = "table snapshot"
    else:
        ctx.adapter.copy_table(a.source, a.backup)  # across regions: a copy job
        how = "copy job"
    ctx.adapter.set_table_expiry(a.backup, BACKUP_EXPIRY_DAYS)
    got = ctx.count(a.backup)
    if got != n:
        raise ActionFailed(f"backup {a.backup} has {got:,} rows, {a.source} has {n:,}",
                           {"backup_rows": got, "source_rows": n})
    return _done(f"{how} of {n:,} rows, expires in {BACKUP_EXPIRY_DAYS} days", rows=n, method=how)


def _migrate_table(ctx: _Context, a: MigrateTable) -> _Done:
    ctx.table_location(a.source)
    ctx.table_location(a.destination)
    if not ctx.adapter.table_exists(a.source):
        raise ActionFailed(f"{a.source} does not exist")
    # Backup first: any backup the plan takes of the source or the destination must exist.
    backups = [b.backup for b in ctx.plan.actions
               if isinstance(b, BackupTable) and b.source in (a.source, a.destination)]
    missing = [b for b in backups if not ctx.adapter.table_exists(b)]
    if missing:
        raise ActionFailed(f"backup {', '.join(missing)} missing: not migrating")
    n = ctx.count(a.source)
    ledger_source = MIGRATION_SOURCE_PREFIX + a.source
    replaced = None
    if ctx.adapter.table_exists(a.destination):
        have = ctx.count(a.destination)
        if a.replace_rows is None:
            if have != n:
                raise ActionFailed(f"{a.destination} exists with {have:,} rows, {a.source} has {n:,}; "
                                   "the plan expected no table: re-plan", {"destination_rows": have, "source_rows": n})
            # Copied before a crash, not yet recorded: record it.
            if not ctx.ledger_has(a.destination, ledger_source, f"rows:{n}"):
                ctx.record_ledger([{"table_ref": a.destination, "source": ledger_source,
                                    "content_hash": f"rows:{n}", "rows": n, "rows_inserted": n}])
                return _done(f"already copied ({n:,} rows); recorded", rows=n)
            return _noop(f"already copied ({n:,} rows)", rows=n)
        if have != a.replace_rows:
            raise ActionFailed(f"{a.destination} has {have:,} rows, the approved plan replaces "
                               f"{a.replace_rows:,}: re-plan", {"destination_rows": have})
        # Its rows go only once their backup is there, whole (taken by this plan or an earlier run).
        backup = replacement_backup(ctx.d, a.destination, have)
        if not ctx.adapter.table_exists(backup) or ctx.count(backup) != have:
            raise ActionFailed(f"no complete backup {backup} of {a.destination}: not replacing it")
        ctx.adapter.delete_table(a.destination)
        replaced = have
    ctx.adapter.copy_table(a.source, a.destination)
    _pause("migrate:copied")
    got = ctx.count(a.destination)
    if got != n:
        raise ActionFailed(f"copied {got:,} rows, {a.source} has {n:,}: source untouched",
                           {"destination_rows": got, "source_rows": n})
    ctx.record_ledger([{"table_ref": a.destination, "source": ledger_source,
                        "content_hash": f"rows:{n}", "rows": n, "rows_inserted": n}])
    extra = f", replacing {replaced:,} rows (backed up)" if replaced is not None else ""
    return _done(f"copied {n:,} rows, counts verified{extra}", rows=n, replaced_rows=replaced)


def _archive_dataset(ctx: _Context, a: ArchiveDataset) -> _Done:
    ctx.need_dataset(a.archive)
    if ctx.location(a.name) is None:
        return _noop(f"{a.name} no longer exists")
    copied, present = [], []
    for src, dest, _ in a.tables:
        if not ctx.adapter.table_exists(src):
            raise ActionFailed(f"{src} does not exist")
        n = ctx.count(src)
        if ctx.adapter.table_exists(dest):
            have = ctx.count(dest)
            if have == n:
                present.append(dest)
                continue
            raise ActionFailed(f"{dest} exists with {have:,} rows, {src} has {n:,}: "
                               "not overwriting an archive copy", {"archive_rows": have, "source_rows": n})
        ctx.adapter.copy_table(src, dest)
        got = ctx.count(dest)
        if got != n:
            raise ActionFailed(f"archived {got:,} rows of {src}, it has {n:,}",
                               {"archive_rows": got, "source_rows": n})
        copied.append(dest)
    deleted = False
    if a.delete_source and not a.keep:
        # Every table of the source must have a verified archive copy, now.
        tables = [n for n, t in ctx.adapter.list_tables(a.name) if t in COPYABLE]
        pairs = [(f"{a.name}.{t}", f"{a.archive}.{archive_name(a.name, t)}") for t in tables]
        absent = [d for _, d in pairs if not ctx.adapter.table_exists(d)]
        if absent:
            raise ActionFailed(f"not deleting {a.name}: no archive copy {', '.join(absent)}")
        counts = ctx.counts([r for p in pairs for r in p])
        wrong = [f"{s} ({counts[s]:,}) vs {d} ({counts[d]:,})" for s, d in pairs if counts[s] != counts[d]]
        if wrong:
            raise ActionFailed(f"not deleting {a.name}: counts differ: {'; '.join(wrong)}")
        ctx.adapter.delete_dataset(a.name)
        ctx.forget(a.name)
        deleted = True
    tail = "; source deleted" if deleted else ("; source kept (spec: keep)" if a.keep else "; source kept")
    return _done(f"{len(copied)} table(s) copied to {a.archive}, {len(present)} already there{tail}",
                 copied=copied, already=present, deleted_source=deleted)


# ====================================================================== transforms and gates


def _input_rows(ctx: _Context, refs: list[str]) -> dict[str, int | None]:
    """Exact counts of a transform's inputs; None for one that does not exist (as the planner)."""
    existing = []
    for r in refs:
        ds, t = r.split(".", 1)
        if ctx.location(ds) is not None and ctx.adapter.table_exists(r):
            existing.append(r)
    counts = ctx.counts(existing)
    return {r: counts.get(r) for r in refs}


def _run_transform(ctx: _Context, a: RunTransform) -> _Done:
    tr = ctx.d.transforms.get(a.name)
    if tr is None:
        raise ActionFailed(f"transform {a.name} is not in the spec")
    for out in a.outputs:
        ctx.need_dataset(out.split(".", 1)[0])
    # The script's job runs where its outputs live (on BigQuery a query reads one location).
    where = list(a.outputs) or list(tr.inputs)
    loc = ctx.need_dataset(where[0].split(".", 1)[0]) if where else ctx.d.default_location
    source = TRANSFORM_SOURCE_PREFIX + a.name
    # Checked before: the inputs exist. Not skipped on an unchanged fingerprint: it holds
    # row counts only, and a MERGE that updates rows keeps them; transforms are written to
    # be rerun (CREATE OR REPLACE / MERGE), so running again is the safe side.
    absent = [i for i in tr.inputs if ctx.location(i.split(".", 1)[0]) is None
              or not ctx.adapter.table_exists(i)]
    if absent:
        raise ActionFailed(f"input(s) {', '.join(absent)} do not exist")
    sql = ctx.d.path(a.sql_file).read_text(encoding="utf-8")
    ctx.adapter.execute(sql, location=loc, what=f"transform {a.name}")
    missing = [o for o in a.outputs if not ctx.adapter.table_exists(o)]
    if missing:
        raise ActionFailed(f"ran, but output(s) {', '.join(missing)} do not exist")
    inputs = _input_rows(ctx, list(tr.inputs))
    fp = transform_fingerprint(tr.inputs, inputs)
    out_rows = ctx.counts(list(a.outputs))
    if a.outputs:
        ctx.record_ledger([{"table_ref": o, "source": source, "content_hash": fp, "rows": out_rows[o],
                            "rows_inserted": 0, "rows_updated": 0} for o in a.outputs])
    return _done(f"ran {a.sql_file}: " + ", ".join(f"{o} {out_rows[o]:,} rows" for o in a.outputs),
                 outputs=out_rows, inputs=inputs, fingerprint=fp)


def _validate(ctx: _Context, a: Validate) -> _Done:
    from reconcile.snapshot.read import observe_table

    loc = ctx.table_location(a.table)
    if not ctx.adapter.table_exists(a.table):
        raise ActionFailed(f"{a.table} does not exist")
    exp = expectations_with_floors(ctx.d, a.table)
    obs = observe_table(ctx.adapter, ctx.d, a.table, exp, location=loc)
    results = evaluate(exp, obs, None)
    observed = {r.check: r.observed for r in results}
    known = dict(a.known_gaps)
    gaps = [r for r in results if not r.passed and r.kind in known]
    bad = [r for r in results if not r.passed and r.kind not in known]
    for r in gaps:
        log.warning("%s: %s fails (expected %s, observed %s): known gap on this target: %s",
                    a.table, r.check, r.expected, r.observed, known[r.kind])
    if bad:
        raise ActionFailed("; ".join(f"{r.check}: expected {r.expected}, observed {r.observed}" for r in bad),
                           {"observed": observed, "expected": {r.check: r.expected for r in results},
                            "failed": [r.check for r in bad]})
    if gaps:
        return _done(f"{len(results) - len(gaps)} check(s) passed; {len(gaps)} known gap(s): "
                     + "; ".join(f"{r.check} observed {r.observed} ({known[r.kind]})" for r in gaps),
                     observed=observed)
    return _done(f"{len(results)} check(s) passed", observed=observed)


# ====================================================================== diagnostics


def _skip(ctx: _Context | None, a: Action) -> _Done:
    return _Done("skipped", _skip_reason(a))


def _skip_reason(a: Action) -> str:
    if isinstance(a, FlagRecreate):
        return (f"in {a.actual_location}, declared in {a.desired_location}: needs "
                f"--approve-relocation {a.name}")
    if isinstance(a, FlagSchemaConflict):
        return "schema conflict, needs a human: " + "; ".join(a.changes)
    if isinstance(a, MissingSource):
        return f"{a.source}: {a.reason}"
    if isinstance(a, RefuseLoad):
        return f"{a.source} refused: " + "; ".join(a.problems)
    if isinstance(a, ExpectationFailed):
        return f"{a.check}: expected {a.expected}, observed {a.observed}"
    if isinstance(a, Unmanaged):
        return f"{a.object_type} not in the spec: listed, never touched"
    return "diagnostic: reported, never acted on"


EXECUTORS: dict[type[Action], Callable[[_Context, Any], _Done]] = {
    CreateDataset: _create_dataset,
    FlagRecreate: _skip,
    RelocateDataset: _relocate_dataset,
    CreateTable: _create_table,
    AddColumns: _add_columns,
    FlagSchemaConflict: _skip,
    CreateView: _create_view,
    MergeLoad: _merge_load,
    RefuseLoad: _skip,
    MissingSource: _skip,
    BackupTable: _backup_table,
    MigrateTable: _migrate_table,
    ArchiveDataset: _archive_dataset,
    RunTransform: _run_transform,
    Validate: _validate,
    ExpectationFailed: _skip,
    Unmanaged: _skip,
}
SKIPPED = frozenset(t for t, fn in EXECUTORS.items() if fn is _skip)


# ====================================================================== dry run


def _describe(a: Action, desired: DesiredState, project: str) -> tuple[str, dict]:
    """What an action would do, with no request sent."""
    if isinstance(a, CreateDataset):
        return f"would create dataset {a.name} in {a.location}", {}
    if isinstance(a, RelocateDataset):
        start = RELOCATION_STEPS.index(a.resume_step) + 1 if a.resume_step in RELOCATION_STEPS else 0
        steps = RELOCATION_STEPS[start:]
        return (f"would relocate {a.name} ({len(a.table_names)} tables, {a.rows:,} rows) to "
                f"{a.to_location} through {a.name}{RELOCATION_SUFFIX}: {', '.join(steps)}", {"steps": list(steps)})
    if isinstance(a, CreateTable):
        if a.ddl_file:
            return f"would run the CREATE TABLE for {a.table} from {a.ddl_file}", \
                {"sql": desired.ddl_statements.get(a.table, "")}
        extra = (f", partitioned by {a.partition_by}" if a.partition_by else "") + \
                (f", clustered by {', '.join(a.cluster_by)}" if a.cluster_by else "")
        return f"would create {a.table} with {len(a.columns)} columns{extra}", {}
    if isinstance(a, AddColumns):
        return f"would add {', '.join(f'{n} {t}' for n, t, _ in a.columns)} to {a.table}", {}
    if isinstance(a, CreateView):
        return f"would {'replace' if a.replace else 'create'} view {a.view} from {a.sql_file}", \
            {"sql": desired.view_sql.get(a.view, "")}
    if isinstance(a, MergeLoad):
        tmp = tmp_table_for(a)
        return (f"would load {a.source} ({a.rows:,} rows) into {tmp}, MERGE it into {a.table} on "
                f"({', '.join(a.keys)}), record it in {desired.ops_dataset}.{LEDGER_TABLE}, drop {tmp}",
                {"sql": merge_sql(project, a, tmp)})
    if isinstance(a, BackupTable):
        return f"would back up {a.source} ({a.rows:,} rows) to {a.backup}, expiring in {BACKUP_EXPIRY_DAYS} days", {}
    if isinstance(a, MigrateTable):
        rep = f", replacing its {a.replace_rows:,} rows" if a.replace_rows is not None else ""
        return f"would copy {a.source} ({a.rows:,} rows) to {a.destination}{rep} and verify counts", {}
    if isinstance(a, ArchiveDataset):
        tail = ", then delete it" if a.delete_source and not a.keep else ", keeping the source"
        return f"would copy {len(a.tables)} table(s) of {a.name} to {a.archive}{tail}", {}
    if isinstance(a, RunTransform):
        return f"would run {a.sql_file} ({a.reason}) -> {', '.join(a.outputs)}", {}
    if isinstance(a, Validate):
        return f"would check {a.table}: {', '.join(a.checks)}", {}
    raise UnknownAction(a, "executor (dry run)")


# ====================================================================== dependencies


def _refs(a: Action, desired: DesiredState) -> tuple[set[str], set[str]]:
    """(tables, datasets) an action depends on: a failure or block of an earlier action
    on any of them blocks this one."""
    tables: set[str] = set()
    datasets: set[str] = set()
    if isinstance(a, (CreateDataset, RelocateDataset, FlagRecreate)):
        datasets.add(a.name)
    elif isinstance(a, ArchiveDataset):
        datasets.update({a.name, a.archive})
        for src, dest, _ in a.tables:
            tables.update({src, dest})
    elif isinstance(a, BackupTable):
        tables.update({a.source, a.backup})
    elif isinstance(a, MigrateTable):
        tables.update({a.source, a.destination})
    elif isinstance(a, RunTransform):
        tables.update(a.outputs)
        tr = desired.transforms.get(a.name)
        tables.update(tr.inputs if tr else ())
    elif isinstance(a, Unmanaged):
        pass
    else:
        tables.add(a.target)
    datasets.update(t.split(".", 1)[0] for t in tables)
    return tables, datasets


def _marks(a: Action) -> tuple[set[str], set[str]]:
    """(tables, datasets) that a failure (or block) of this action leaves unsafe to build on."""
    if isinstance(a, (CreateDataset, RelocateDataset, FlagRecreate, ArchiveDataset)):
        return set(), {a.name}
    if isinstance(a, BackupTable):
        return {a.source}, set()
    if isinstance(a, MigrateTable):
        return {a.destination}, set()
    if isinstance(a, RunTransform):
        return set(a.outputs), set()
    if isinstance(a, Unmanaged):
        return set(), set()
    return {a.target}, set()


# ====================================================================== apply


def _label(a: Action) -> str:
    if isinstance(a, (MergeLoad, RefuseLoad, MissingSource)):
        return f"{a.table} <- {a.source}"
    if isinstance(a, BackupTable):
        return f"{a.source} -> {a.backup}"
    if isinstance(a, MigrateTable):
        return f"{a.source} -> {a.destination}"
    if isinstance(a, ArchiveDataset):
        return f"{a.name} -> {a.archive}"
    if isinstance(a, RelocateDataset):
        return f"{a.name} {a.from_location} -> {a.to_location}"
    return a.target


class Run:
    """One apply run, action by action: what `apply` loops over, and what a Prefect flow
    can wrap one task per action around (`run_action` in plan order, then `finish`).

    It remembers which tables and datasets an action failed or was blocked on, so a
    later action that depends on them is blocked too."""

    def __init__(self, plan: Plan, desired: DesiredState, adapter: Adapter, *, run_id: str,
                 dry_run: bool = False):
        for a in plan.actions:  # fail loudly before anything runs
            if type(a) not in EXECUTORS:
                raise UnknownAction(a, "executor")
        self.plan = plan
        self.desired = desired
        self.adapter = adapter
        self.run_id = run_id
        self.dry_run = dry_run
        self.ctx = _Context(plan, desired, adapter, run_id)
        self.bad_tables: dict[str, str] = {}
        self.bad_datasets: dict[str, str] = {}
        self.outcomes: list[Outcome] = []
        self.stamps: list[tuple[dt.datetime, dt.datetime]] = []

    def run_action(self, a: Action) -> Outcome:
        if type(a) not in EXECUTORS:
            raise UnknownAction(a, "executor")
        started = dt.datetime.now(dt.timezone.utc)
        t0 = time.monotonic()
        tables, datasets = _refs(a, self.desired)
        dependency = next((self.bad_tables[t] for t in sorted(tables) if t in self.bad_tables), None) or \
            next((self.bad_datasets[d] for d in sorted(datasets) if d in self.bad_datasets), None)
        observed: dict = {}
        if type(a) in SKIPPED:
            status, detail = "skipped", _skip_reason(a)
        elif a.blocked_by:
            status, detail = "blocked", "blocked by " + ", ".join(a.blocked_by)
        elif dependency is not None:
            status, detail = "blocked", f"blocked by {dependency}"
        elif self.dry_run:
            status = "dry-run"
            detail, observed = _describe(a, self.desired, self.adapter.project)
        else:
            try:
                r = EXECUTORS[type(a)](self.ctx, a)
                status, detail, observed = r.status, r.detail, r.observed
            except ActionFailed as e:
                status, detail, observed = "failed", e.detail, e.observed
            except (BigQueryError, ids.IdentifierError, OSError) as e:
                status, detail = "failed", str(e)
            except Exception as e:  # noqa: BLE001 - one action's bug must not hide the rest's outcomes
                log.exception("%s: unexpected error", a.key)
                status, detail = "failed", f"{type(e).__name__}: {e}"
        if status in ("failed", "blocked"):
            mt, md = _marks(a)
            for t in mt:
                self.bad_tables.setdefault(t, a.key)
            for d in md:
                self.bad_datasets.setdefault(d, a.key)
        outcome = Outcome(key=a.key, kind=a.kind, target=a.target, status=status, detail=detail,
                          observed=observed, seconds=time.monotonic() - t0)
        self.outcomes.append(outcome)
        self.stamps.append((started, dt.datetime.now(dt.timezone.utc)))
        if status == "failed":
            log.warning("%s failed: %s", a.key, detail)
        else:
            log.info("%s: %s (%s)", a.key, status, detail)
        return outcome

    def finish(self) -> ApplyResult:
        """The run's result; its outcomes written to <ops>.run_records (not in a dry run)."""
        result = ApplyResult(run_id=self.run_id, outcomes=tuple(self.outcomes),
                             ok=not any(o.status == "failed" for o in self.outcomes))
        if not self.dry_run and self.outcomes:
            _write_run_records(self.ctx, result, self.stamps)
        return result


def apply(plan: Plan, desired: DesiredState, adapter: Adapter, *, run_id: str, dry_run: bool = False,
          progress: Callable[[str], None] | None = None, stop_after: int | None = None) -> ApplyResult:
    """Carry out `plan` in its order and return one Outcome per action handled.

    Diagnostics are 'skipped', actions the plan blocks (or that depend on one that failed
    or was blocked in this run) are 'blocked'; the others run through EXECUTORS and end
    'done', 'noop' (nothing was left to do) or 'failed'. `dry_run` describes instead
    ('dry-run') and sends no request. `stop_after=N` returns after the first N actions
    (tests of partial progress). Outcomes are written to <ops>.run_records unless dry_run.
    An action type with no executor raises UnknownAction before anything runs."""
    run = Run(plan, desired, adapter, run_id=run_id, dry_run=dry_run)
    say = progress or (lambda m: log.info(m))
    total = len(plan.actions)
    for i, a in enumerate(plan.actions, 1):
        if stop_after is not None and i > stop_after:
            break
        say(f"[{i}/{total}] {a.kind} {_label(a)}")
        run.run_action(a)
    return run.finish()


def _write_run_records(ctx: _Context, result: ApplyResult,
                       stamps: list[tuple[dt.datetime, dt.datetime]]) -> None:
    """Outcomes to <ops>.run_records, if the ops dataset exists (never created for this)."""
    try:
        ctx.forget(ctx.ops)
        if ctx.location(ctx.ops) is None:
            log.info("no %s dataset: run records not written", ctx.ops)
            return
        ref, loc = ctx.ops_table(RUN_RECORDS_TABLE)
        rows = [{"run_id": result.run_id, "started_at": s, "finished_at": f, "action_key": o.key,
                 "kind": o.kind, "target": o.target, "status": o.status, "detail": o.detail[:10000],
                 "observed": json.dumps(o.observed, sort_keys=True, default=str),
                 "seconds": float(round(o.seconds, 3))}
                for o, (s, f) in zip(result.outcomes, stamps)]
        for i in range(0, len(rows), RUN_RECORDS_PER_INSERT):
            ctx.adapter.insert_rows_dml(ref, rows[i:i + RUN_RECORDS_PER_INSERT], location=loc)
    except Exception as e:  # noqa: BLE001 - the run's work is done; losing its record is reported
        log.warning("could not write run records to %s.%s: %s", ctx.ops, RUN_RECORDS_TABLE, e)


# ====================================================================== lease


class LeaseHeld(RuntimeError):
    """Another apply holds the project's lease."""

    def __init__(self, holder: str, since: Any, expires: Any = None, project: str = ""):
        self.holder = holder
        self.since = since
        self.expires = expires
        where = f" on {project}" if project else ""
        until = f", until {expires}" if expires else ""
        super().__init__(f"another apply holds the lease{where}: run {holder} since {since}{until}. "
                         "Wait for it (--wait-lease SECONDS); a crashed run's lease expires on its own")


def _lease_sql(adapter: Adapter, ops: str, name: str) -> str:
    return _sql(f"ops/{name}.sql", table=qtable(adapter.project, ops, LEASE_TABLE))


def _lease_setup(adapter: Adapter, desired: DesiredState) -> str:
    ctx = _Context(Plan(project=desired.project, actions=()), desired, adapter, "")
    _, loc = ctx.ops_table(LEASE_TABLE)
    return loc


def _try_take(adapter: Adapter, ops: str, loc: str, run_id: str, ttl: int) -> dict | None:
    """Take the lease; None if ours, else the live holder's row."""
    for _ in range(3):
        adapter.execute(_lease_sql(adapter, ops, "lease_take"), location=loc, what="take lease",
                        params=[param("holder", run_id), param("ttl_seconds", int(ttl))])
        holders = adapter.query(_lease_sql(adapter, ops, "lease_holders"), location=loc, what="read lease")
        if not holders:
            continue  # the previous lease expired between the two statements: try again
        if holders[0]["holder"] == run_id:
            return None
        if any(h["holder"] == run_id for h in holders):  # lost a race: step back
            adapter.execute(_lease_sql(adapter, ops, "lease_release"), location=loc, what="release lease",
                            params=[param("holder", run_id)])
        return holders[0]
    raise BigQueryError("could not take or read the lease")


@contextmanager
def lease(adapter: Adapter, desired: DesiredState, run_id: str, *, wait_seconds: float = 0,
          ttl_seconds: int = LEASE_TTL_SECONDS) -> Iterator[None]:
    """Hold the project's apply lease (<ops>.lease) for the block: one apply at a time.

    Taken with one conditional INSERT, then read back (only the earliest live holder
    proceeds, so two racing runs never both do). Renewed every ttl/3 seconds while
    held; a crashed run's lease expires after `ttl_seconds`. Raises LeaseHeld when
    another run holds it after waiting `wait_seconds`."""
    ops = desired.ops_dataset
    loc = _lease_setup(adapter, desired)
    deadline = time.monotonic() + max(0.0, wait_seconds)
    while True:
        holder = _try_take(adapter, ops, loc, run_id, ttl_seconds)
        if holder is None:
            break
        if time.monotonic() >= deadline:
            raise LeaseHeld(holder["holder"], holder["acquired_at"], holder.get("expires_at"),
                            adapter.project)
        time.sleep(min(5.0, max(0.1, deadline - time.monotonic())))
    stop = threading.Event()

    def heartbeat() -> None:
        while not stop.wait(max(1.0, ttl_seconds / 3)):
            try:
                adapter.execute(_lease_sql(adapter, ops, "lease_renew"), location=loc, what="renew lease",
                                params=[param("holder", run_id), param("ttl_seconds", int(ttl_seconds))])
            except Exception as e:  # noqa: BLE001 - retried at the next beat
                log.warning("could not renew the lease: %s", e)

    beat = threading.Thread(target=heartbeat, name="reconcile-lease", daemon=True)
    beat.start()
    log.info("lease on %s taken by run %s", adapter.project, run_id)
    try:
        yield
    finally:
        stop.set()
        beat.join(timeout=5)
        try:
            adapter.execute(_lease_sql(adapter, ops, "lease_release"), location=loc, what="release lease",
                            params=[param("holder", run_id)])
        except Exception as e:  # noqa: BLE001 - it expires on its own
            log.warning("could not release the lease (it expires in %ss): %s", ttl_seconds, e)


def lease_holder(adapter: Adapter, desired: DesiredState) -> dict | None:
    """The live lease row, if any (for status displays)."""
    ops = desired.ops_dataset
    loc = adapter.dataset_location(ops)
    if loc is None or not adapter.table_exists(f"{ops}.{LEASE_TABLE}"):
        return None
    rows = adapter.query(_lease_sql(adapter, ops, "lease_holders"), location=loc, what="read lease")
    return rows[0] if rows else None


def break_lease(adapter: Adapter, desired: DesiredState, holder: str) -> None:
    """Remove a dead run's lease by its run id (a human decision, e.g. after kill -9)."""
    ops = desired.ops_dataset
    loc = adapter.dataset_location(ops)
    if loc is None or not adapter.table_exists(f"{ops}.{LEASE_TABLE}"):
        return
    adapter.execute(_lease_sql(adapter, ops, "lease_release"), location=loc, what="break lease",
                    params=[param("holder", holder)])


__all__ = ["ApplyResult", "ActionFailed", "EXECUTORS", "LeaseHeld", "Outcome", "RELOCATION_STEPS", "Run",
           "apply", "break_lease", "lease", "lease_holder", "new_run_id", "merge_sql", "tmp_table_for"]

