"""The planner: desired state + live snapshot + staging manifest -> Plan.

`plan()` is a pure function. It takes no client, reads no file, no clock and
no environment variable: everything it needs is in its arguments, so the same
inputs always give the same plan, and it is tested without BigQuery. Side
effects live in the executor.

One comparison per concern (datasets, tables, views, migrations, loads,
transforms, expectations, archive, unmanaged), then one function orders the
actions and one resolves what blocks what.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import hashlib
import re
from dataclasses import dataclass, replace
from typing import Iterable

from reconcile import identifiers as ids
from reconcile.plan.actions import (
    Action, AddColumns, ArchiveDataset, BackupTable, CreateDataset, CreateTable, CreateView,
    ExpectationFailed, FlagRecreate, FlagSchemaConflict, MergeLoad, MigrateTable, MissingSource,
    Plan, RefuseLoad, RelocateDataset, RunTransform, Unmanaged, Validate, phase_of,
)
from reconcile.snapshot.model import Snapshot
from reconcile.spec.sources import SourceManifest
from reconcile.spec.model import DesiredState, Expectations, canonical_type

# Tables the tool itself keeps in the ops dataset: never reported as unmanaged.
OPS_TABLES = frozenset({"load_ledger", "relocation_checkpoints", "run_records", "lease",
                        "expectation_results"})
RELOCATION_SUFFIX = "__relocating"
MIGRATION_SOURCE_PREFIX = "bq:"
TRANSFORM_SOURCE_PREFIX = "transform:"
NEEDS_ALLOW = "destructive: needs --allow-destructive"

# BigQuery's in-place schema changes, as data (SQLMesh keeps these as a table too):
# (live type, declared type) pairs that ALTER COLUMN SET DATA TYPE accepts. Every
# other type change is a conflict for a human.
WIDENINGS = frozenset({("INT64", "NUMERIC"), ("INT64", "BIGNUMERIC"), ("INT64", "FLOAT64"),
                       ("NUMERIC", "BIGNUMERIC"), ("NUMERIC", "FLOAT64")})


@dataclass(frozen=True)
class CheckResult:
    check: str  # e.g. "min_distinct(regime)"
    kind: str  # the expectation kind, e.g. "min_distinct"
    expected: str
    observed: str
    passed: bool


def backup_name(dataset: str, table: str, suffix: str = "") -> str:
    return f"backup__{dataset}__{table}{suffix}"


def replacement_backup(desired: DesiredState, destination: str, rows: int) -> str:
    """Where a migration destination about to be replaced (holding `rows` rows) is backed up
    first: "<archive or ops>.backup__<dataset>__<table>__<rows>rows". Pure."""
    ds, table = destination.split(".", 1)
    bds = desired.archive.dataset if desired.archive else desired.ops_dataset
    return f"{bds}.{backup_name(ds, table, f'__{rows}rows')}"


def archive_name(dataset: str, table: str) -> str:
    return f"{dataset}__{table}"


def transform_fingerprint(inputs: Iterable[str], rows: dict[str, int | None]) -> str:
    """What a transform's inputs looked like, as a hash: rows per input table.

    The executor records it after a run; the planner compares it with the snapshot."""
    text = ";".join(f"{t}={rows.get(t)}" for t in sorted(inputs))
    return "inputs:" + hashlib.sha256(text.encode()).hexdigest()[:16]


def evaluate(exp: Expectations, obs: dict, rows: int | None) -> list[CheckResult]:
    """Compare one table's expectations with its observed metrics. Pure."""
    out: list[CheckResult] = []

    def missing(col: str) -> bool:
        return bool(obs.get(f"missing_column:{col}"))

    n = obs.get("rows", rows)
    if exp.min_rows is not None:
        out.append(CheckResult("min_rows", "min_rows", f">= {exp.min_rows:,}",
                               "unknown" if n is None else f"{n:,}",
                               n is not None and n >= exp.min_rows))
    if exp.min_columns is not None:
        c = obs.get("columns")
        out.append(CheckResult("min_columns", "min_columns", f">= {exp.min_columns}",
                               "unknown" if c is None else str(c), c is not None and c >= exp.min_columns))
    for col, k in sorted(exp.min_distinct.items()):
        v = obs.get(f"distinct:{col}")
        out.append(CheckResult(f"min_distinct({col})", "min_distinct", f">= {k}",
                               "column missing" if missing(col) else str(v),
                               not missing(col) and v is not None and v >= k))
    for col, r in sorted(exp.ranges.items()):
        lo, hi = obs.get(f"min:{col}"), obs.get(f"max:{col}")
        ok = not missing(col) and (n == 0 or (lo is not None and hi is not None
                                              and (r.min is None or lo >= r.min)
                                              and (r.max is None or hi <= r.max)))
        out.append(CheckResult(f"range({col})", "ranges", f"{_num(r.min)}..{_num(r.max)}",
                               "column missing" if missing(col) else f"{_num(lo)}..{_num(hi)}", ok))
    for col, vals in sorted(exp.placeholders.items()):
        v = obs.get(f"placeholders:{col}")
        out.append(CheckResult(f"placeholders({col})", "placeholders",
                               f"0 rows with {', '.join(repr(x) for x in vals)}",
                               "column missing" if missing(col) else f"{v} rows",
                               not missing(col) and v == 0))
    if exp.coverage is not None:
        col = exp.coverage.column
        lo, hi = obs.get(f"coverage_min:{col}"), obs.get(f"coverage_max:{col}")
        slack = dt.timedelta(days=exp.coverage.tolerance_days)
        ok = (not missing(col) and lo is not None and hi is not None
              and str(lo)[:10] <= (exp.coverage.start + slack).isoformat()
              and str(hi)[:10] >= (exp.coverage.end - slack).isoformat())
        out.append(CheckResult(f"coverage({col})", "coverage",
                               f"{exp.coverage.start}..{exp.coverage.end}",
                               "column missing" if missing(col) else f"{str(lo)[:10]}..{str(hi)[:10]}", ok))
    return out


def expectations_with_floors(desired: DesiredState, ref: str) -> Expectations:
    """A table's merged expectations plus the row floors (`min_rows`) of the loads into it:
    what the planner judges and what the executor's Validate gate re-checks. Pure."""
    exp = desired.expectations_for(ref) or Expectations()
    floors = [ld.min_rows for ld in desired.loads if ld.table == ref and ld.min_rows is not None]
    if floors and (exp.min_rows is None or max(floors) > exp.min_rows):
        exp = exp.model_copy(update={"min_rows": max(floors)})
    return exp


def _num(v: object) -> str:
    if v is None:
        return "*"
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


class _Planner:
    def __init__(self, desired: DesiredState, snap: Snapshot, sources: SourceManifest,
                 approvals: frozenset[str], allow_destructive: bool):
        self.d = desired
        self.s = snap
        # Tables per dataset, indexed once: Snapshot.tables_in scans every table, and the
        # planner asks for every dataset (quadratic at 10,000 tables).
        self._by_dataset: dict[str, dict] = {}
        for ref, t in snap.tables.items():
            self._by_dataset.setdefault(ref.split(".", 1)[0], {})[ref] = t
        self.src = sources
        self.approvals = approvals
        self.allow = allow_destructive
        self.actions: list[Action] = []
        self.blocked_datasets: dict[str, str] = {}
        self.blocked_tables: dict[str, str] = {}
        self.touched: set[str] = set()  # tables this plan changes (gates re-run after)
        self.managed_tables: set[str] = set()
        self.managed_datasets: set[str] = set(desired.datasets)
        self.migration_destinations: dict[str, str] = {}  # destination -> source

    def add(self, a: Action) -> Action:
        self.actions.append(a)
        return a

    def blockers(self, *refs: str) -> tuple[str, ...]:
        out: list[str] = []
        for ref in refs:
            ds = ref.split(".")[0]
            if ds in self.blocked_datasets:
                out.append(self.blocked_datasets[ds])
            if ref in self.blocked_tables:
                out.append(self.blocked_tables[ref])
        return tuple(dict.fromkeys(out))

    def rows(self, ref: str) -> int:
        t = self.s.tables.get(ref)
        return (t.rows or 0) if t else 0

    def tables_in(self, dataset: str) -> dict:
        """As Snapshot.tables_in, from the index."""
        return dict(self._by_dataset.get(dataset, {}))

    # ------------------------------------------------------------ datasets
    def datasets(self) -> None:
        for name in sorted(self.d.datasets):
            spec = self.d.datasets[name]
            want = self.d.location_of(name)
            live = self.s.datasets.get(name)
            checkpoint = self.s.checkpoints.get(name)
            tables = self.tables_in(name)
            if checkpoint and checkpoint != "done":
                # A relocation crashed part-way: resuming is the only safe move.
                temp = self.tables_in(name + RELOCATION_SUFFIX)
                names = sorted({t.split(".", 1)[1] for t in [*tables, *temp]})
                rows = max(sum(t.rows or 0 for t in tables.values()),
                           sum(t.rows or 0 for t in temp.values()))
                self.add(RelocateDataset(name=name, from_location=live.location if live else "?",
                                         to_location=want, table_names=tuple(names), rows=rows,
                                         resume_step=checkpoint))
                self.managed_datasets.add(name + RELOCATION_SUFFIX)
            elif live is None:
                self.add(CreateDataset(name=name, location=want, description=spec.description,
                                       labels=tuple(sorted(spec.labels.items()))))
            elif not ids.same_location(live.location, want):
                rows = sum(t.rows or 0 for t in tables.values())
                if name in self.approvals:
                    self.add(RelocateDataset(name=name, from_location=live.location, to_location=want,
                                             table_names=tuple(sorted(t.split(".", 1)[1] for t in tables)),
                                             rows=rows))
                else:
                    a = self.add(FlagRecreate(name=name, actual_location=live.location,
                                              desired_location=want, tables=len(tables), rows=rows))
                    self.blocked_datasets[name] = a.key

    # ------------------------------------------------------------ tables
    def tables(self) -> None:
        for ref in sorted(self.d.tables):
            t = self.d.tables[ref]
            self.managed_tables.add(ref)
            want = self.d.columns_of(ref) or []
            live = self.s.tables.get(ref)
            if live is None:
                self.add(CreateTable(table=ref, ddl_file=t.ddl, columns=tuple(want),
                                     partition_by=t.partition_by,
                                     partition_granularity=t.partition_granularity,
                                     cluster_by=tuple(t.cluster_by),
                                     description=t.description, labels=tuple(sorted(t.labels.items())),
                                     blocked_by=self.blockers(ref)))
                self.touched.add(ref)
                continue
            if live.type != "TABLE":
                a = self.add(FlagSchemaConflict(table=ref, changes=(f"exists as a {live.type}, declared as a table",),
                                                rows=live.rows or 0))
                self.blocked_tables[ref] = a.key
                continue
            if live.columns is None:
                continue  # columns not read (offline snapshot without them): nothing to compare
            have = {c.name: _field(c.type, c.mode) for c in live.columns}
            added, conflicts = [], []
            for name, typ, mode in want:
                typ, mode = _field(typ, mode)
                if name not in have:
                    if mode == "REQUIRED":
                        conflicts.append(f"new column {name} is REQUIRED: existing rows have no value")
                    else:
                        added.append((name, typ, mode))
                    continue
                ltyp, lmode = have[name]
                if ltyp != typ:
                    hint = " (a widening BigQuery allows with ALTER COLUMN; apply by hand)" \
                        if (ltyp, typ) in WIDENINGS else ""
                    conflicts.append(f"column {name}: type {ltyp} -> {typ}{hint}")
                elif lmode != mode and not (lmode == "REQUIRED" and mode == "NULLABLE"):
                    conflicts.append(f"column {name}: mode {lmode} -> {mode}")
            declared = {n for n, _, _ in want}
            for name in have:
                if name not in declared:
                    conflicts.append(f"column {name} is not in the spec: dropping it would lose data")
            if conflicts:
                a = self.add(FlagSchemaConflict(table=ref, changes=tuple(conflicts), rows=live.rows or 0,
                                                blocked_by=self.blockers(ref)))
                self.blocked_tables[ref] = a.key
            elif added:
                self.add(AddColumns(table=ref, columns=tuple(added), rows=live.rows or 0,
                                    blocked_by=self.blockers(ref)))
                self.touched.add(ref)

    # ------------------------------------------------------------ views
    def views(self) -> None:
        for ref in sorted(self.d.views):
            v = self.d.views[ref]
            self.managed_tables.add(ref)
            live = self.s.tables.get(ref)
            want_sql = self.d.view_sql.get(ref, "")
            if live is None:
                self.add(CreateView(view=ref, sql_file=v.sql, blocked_by=self.blockers(ref)))
            elif live.type != "VIEW":
                a = self.add(FlagSchemaConflict(table=ref, changes=(f"exists as a {live.type}, declared as a view",),
                                                rows=live.rows or 0))
                self.blocked_tables[ref] = a.key
            elif live.view_sql is not None and _norm_sql(live.view_sql) != _norm_sql(want_sql):
                self.add(CreateView(view=ref, sql_file=v.sql, replace=True, blocked_by=self.blockers(ref)))

    # ------------------------------------------------------------ backups and migrations
    def backup_dataset(self) -> str:
        return self.d.archive.dataset if self.d.archive else self.d.ops_dataset

    def migrations(self) -> None:
        bds = self.backup_dataset()
        for mg in self.d.migrations:
            self.managed_datasets.add(mg.source_dataset)
            sources = sorted(r for r, t in self.tables_in(mg.source_dataset).items()
                             if t.type == "TABLE" and fnmatch.fnmatchcase(r.split(".", 1)[1], mg.pattern))
            for src in sources:
                table = src.split(".", 1)[1]
                dst = f"{mg.to}.{mg.rename.apply(table)}"
                ids.split_table_ref(dst)
                self.migration_destinations[dst] = src
                self.managed_tables.add(dst)
                src_rows = self.rows(src)
                live = self.s.tables.get(dst)
                # The latest copy counts (a replaced destination has older entries too).
                entry = next((e for e in sorted(self.s.ledger, key=lambda e: e.loaded_at or "", reverse=True)
                              if e.table == dst and e.source == MIGRATION_SOURCE_PREFIX + src), None)
                blocked = self.blockers(src, dst)
                if live is not None:
                    if entry is not None and entry.rows == src_rows:
                        continue
                    if entry is None and live.rows == src_rows:
                        continue
                    # The destination exists with other rows: replacing it is destructive.
                    backup = replacement_backup(self.d, dst, live.rows or 0)
                    if backup not in self.s.tables:
                        self.add(BackupTable(source=dst, backup=backup, rows=live.rows or 0,
                                             blocked_by=blocked))
                    self.add(MigrateTable(source=src, destination=dst, rows=src_rows,
                                          replace_rows=live.rows or 0,
                                          blocked_by=blocked + (() if self.allow else (NEEDS_ALLOW,))))
                    self.touched.add(dst)
                    continue
                backup = f"{bds}.{backup_name(mg.source_dataset, table)}"
                if mg.backup and backup not in self.s.tables:
                    self.add(BackupTable(source=src, backup=backup, rows=src_rows, blocked_by=blocked))
                self.add(MigrateTable(source=src, destination=dst, rows=src_rows, blocked_by=blocked))
                self.touched.add(dst)

    # ------------------------------------------------------------ loads
    def loads(self) -> None:
        for ld in self.d.loads:
            sf = self.src.get(ld.table, ld.source)
            if sf is None or not sf.exists:
                a = self.add(MissingSource(table=ld.table, source=ld.source))
                self.blocked_tables.setdefault(ld.table, a.key)
                continue
            problems = list(sf.problems)
            declared = {n: canonical_type(t) for n, t, _ in (self.d.columns_of(ld.table) or [])}
            for name, typ in sf.columns:
                if name not in declared:
                    problems.append(f"column {name} ({typ}) is not in table {ld.table}")
                elif declared[name] != typ:
                    problems.append(f"column {name}: file has {typ}, table has {declared[name]}")
            for k in ld.keys:
                if k not in declared:
                    problems.append(f"key column {k} is not in table {ld.table}")
            if problems:
                self.add(RefuseLoad(table=ld.table, source=ld.source, problems=tuple(problems),
                                    rows=sf.rows))
                continue
            if self.s.loaded(ld.table, ld.source, sf.content_hash):
                continue
            self.add(MergeLoad(table=ld.table, source=ld.source, content_hash=sf.content_hash,
                               rows=sf.rows, keys=tuple(ld.keys), columns=sf.columns,
                               table_rows=self.rows(ld.table), blocked_by=self.blockers(ld.table)))
            self.touched.add(ld.table)

    # ------------------------------------------------------------ expectations and transforms
    def expectation_tables(self) -> list[str]:
        candidates = set(self.s.tables) | set(self.d.tables) | set(self.migration_destinations)
        for tr in self.d.transforms.values():
            candidates.update(tr.outputs)
        out = []
        for ref in sorted(candidates):
            if ref.split(".")[0] not in self.d.datasets:
                continue
            exp = self.d.expectations_for(ref)
            floors = [ld.min_rows for ld in self.d.loads if ld.table == ref and ld.min_rows is not None]
            if (exp is not None and not exp.is_empty()) or floors:
                out.append(ref)
        return out

    def expectations_of(self, ref: str) -> Expectations:
        return expectations_with_floors(self.d, ref)

    def transforms_and_expectations(self) -> None:
        data_touched = set(self.touched)  # created, loaded, migrated: before any transform
        failing: dict[str, list[CheckResult]] = {}
        for ref in self.expectation_tables():
            live = self.s.tables.get(ref)
            if live is None or ref in self.touched:
                continue
            results = evaluate(self.expectations_of(ref), self.s.observations.get(ref, {}), live.rows)
            bad = [r for r in results if not r.passed]
            if bad:
                failing[ref] = bad

        fixed: dict[tuple[str, str], str] = {}  # (table, kind) -> transform name
        archive_ds = self.d.archive.dataset if self.d.archive else None
        late_outputs: set[str] = set()
        stale: dict[tuple[str, str], str] = {}  # failing although its repair already ran
        for name, tr in self.d.transforms.items():
            reasons: list[str] = []
            fp = transform_fingerprint(tr.inputs, {i: self.rows(i) if i in self.s.tables else None
                                                   for i in tr.inputs})
            recorded = sorted((e for e in self.s.ledger if e.source == TRANSFORM_SOURCE_PREFIX + name),
                              key=lambda e: e.loaded_at or "")
            inputs_touched = any(i in self.touched for i in tr.inputs)
            # The repair already ran on exactly these inputs: running it again cannot
            # change the result, so a gate still failing needs a human, not a loop.
            ran_on_same_inputs = bool(recorded) and recorded[-1].content_hash == fp and not inputs_touched
            for out in tr.outputs:
                self.managed_tables.add(out)
                if (out not in self.s.tables and out not in self.d.tables
                        and out not in self.migration_destinations):
                    reasons.append(f"output {out} does not exist")
            for fix in tr.fixes:
                pattern, kind = fix.rsplit(":", 1)
                for ref, bad in failing.items():
                    if fnmatch.fnmatchcase(ref, pattern) and any(r.kind == kind for r in bad):
                        if ran_on_same_inputs and ref not in data_touched:
                            stale[(ref, kind)] = name
                            continue
                        fixed[(ref, kind)] = name
                        reasons.append(f"fixes {kind} on {ref}")
                for ref in sorted(data_touched):
                    # New data arrives in this plan (e.g. a migrated copy of a table with
                    # the audit's placeholders): the repair runs after it, idempotently.
                    if fnmatch.fnmatchcase(ref, pattern):
                        reasons.append(f"repairs {ref} after it changes")
            if tr.schedule is None and tr.inputs and not reasons:
                if inputs_touched or not recorded or recorded[-1].content_hash != fp:
                    if not all(o in self.s.tables for o in tr.outputs) or recorded or inputs_touched:
                        reasons.append("inputs changed since the last build" if recorded or inputs_touched
                                       else "never built by this tool")
            if reasons:
                late = any(i.split(".")[0] == archive_ds for i in tr.inputs)
                self.add(RunTransform(name=name, sql_file=tr.sql, outputs=tuple(tr.outputs),
                                      reason="; ".join(dict.fromkeys(reasons)), late=late,
                                      blocked_by=self.blockers(*tr.outputs, *tr.inputs)))
                self.touched.update(tr.outputs)
                if late:
                    late_outputs.update(tr.outputs)

        for ref in self.expectation_tables():
            exp = self.expectations_of(ref)
            checks = tuple(r.check for r in evaluate(exp, {}, None))
            late = ref in late_outputs
            if ref in data_touched or ref not in self.s.tables:
                # New data may change any metric: the gate runs after it.
                self.add(Validate(table=ref, checks=checks, late=late, blocked_by=self.blockers(ref)))
                continue
            if ref in self.touched:
                self.add(Validate(table=ref, checks=checks, late=late, blocked_by=self.blockers(ref)))
            unfixed = [r for r in failing.get(ref, []) if (ref, r.kind) not in fixed]
            for r in unfixed:
                observed = r.observed
                if (ref, r.kind) in stale:
                    observed += f" (still, after {stale[(ref, r.kind)]} ran on the same inputs)"
                self.add(ExpectationFailed(table=ref, check=r.check, expected=r.expected,
                                           observed=observed, blocked_by=self.blockers(ref)))

    # ------------------------------------------------------------ archive
    def archive(self) -> None:
        arc = self.d.archive
        if arc is None:
            return
        for ds in sorted(self.s.datasets):
            if not arc.matches(ds):
                continue
            self.managed_datasets.add(ds)
            keep = arc.keeps(ds)
            to_copy = []
            for ref, t in sorted(self.tables_in(ds).items()):
                if t.type not in ("TABLE", "SNAPSHOT", "CLONE"):
                    continue
                dest = f"{arc.dataset}.{archive_name(ds, ref.split('.', 1)[1])}"
                have = self.s.tables.get(dest)
                if have is None or (have.rows or 0) != (t.rows or 0):
                    to_copy.append((ref, dest, t.rows or 0))
            delete = (arc.delete_sources or self.allow) and not keep
            if to_copy or delete:
                self.add(ArchiveDataset(name=ds, archive=arc.dataset, tables=tuple(to_copy),
                                        delete_source=delete, keep=keep,
                                        blocked_by=self.blockers(f"{arc.dataset}.x")))

    # ------------------------------------------------------------ unmanaged
    def unmanaged(self) -> None:
        arc = self.d.archive.dataset if self.d.archive else None
        for ds in sorted(self.s.datasets):
            if ds in self.managed_datasets or ds.endswith(RELOCATION_SUFFIX):
                continue
            tables = self.tables_in(ds)
            self.add(Unmanaged(object=ds, object_type="dataset",
                               rows=sum(t.rows or 0 for t in tables.values())))
        for ref, t in sorted(self.s.tables.items()):
            ds, name = ref.split(".", 1)
            if ds not in self.d.datasets or ref in self.managed_tables:
                continue
            if ds == self.d.ops_dataset and name in OPS_TABLES:
                continue
            if ds == arc or (ds == self.backup_dataset() and name.startswith("backup__")):
                continue  # archive copies and backups are the tool's own
            self.add(Unmanaged(object=ref, object_type=t.type.lower(), rows=t.rows or 0))


def order(actions: Iterable[Action]) -> list[Action]:
    """The one ordering: datasets, tables, backups, migrations, loads, transforms,
    views, validations, archive last (then the unmanaged listing). Transforms keep
    their declaration order (later ones may read earlier ones' outputs)."""
    indexed = list(enumerate(actions))

    def key(item: tuple[int, Action]) -> tuple:
        i, a = item
        phase = phase_of(a) + (100 if a.late else 0)
        if isinstance(a, RunTransform):
            return (phase, i, "", "")
        return (phase, 0, a.dataset, a.key)

    return [a for _, a in sorted(indexed, key=key)]


def plan(desired: DesiredState, snapshot: Snapshot, sources: SourceManifest | None = None, *,
         approvals: Iterable[str] = (), allow_destructive: bool = False) -> Plan:
    """Compute the ordered actions that bring `snapshot` to `desired`. Pure: no I/O."""
    p = _Planner(desired, snapshot, sources or SourceManifest(), frozenset(approvals), allow_destructive)
    p.datasets()
    p.tables()
    p.views()
    p.migrations()
    p.loads()
    p.transforms_and_expectations()
    p.archive()
    p.unmanaged()
    actions = _apply_known_gaps(desired, snapshot.target, p.actions)
    notes = []
    for name in sorted(frozenset(approvals) - set(desired.datasets)):
        notes.append(f"approval for {name} ignored: not a declared dataset")
    return Plan(project=desired.project, actions=tuple(order(actions)),
                snapshot_taken_at=snapshot.taken_at, notes=tuple(notes))


def _apply_known_gaps(desired: DesiredState, target: str, actions: list[Action]) -> list[Action]:
    """Mark the gates the target declared it cannot meet; unblock what only they blocked."""
    t = desired.targets.get(target)
    gaps = t.known_gaps if t else []
    if not gaps:
        return actions

    def reason(table: str, check: str) -> str | None:
        return next((g.reason for g in gaps if g.matches(table, check)), None)

    out: list[Action] = []
    for a in actions:
        if isinstance(a, MissingSource):
            a = replace(a, known_gap=reason(a.table, "missing_source"))
        elif isinstance(a, ExpectationFailed):
            a = replace(a, known_gap=reason(a.table, a.check.split("(")[0]))
        elif isinstance(a, Validate):
            kinds = dict.fromkeys(c.split("(")[0] for c in a.checks)
            known = tuple((k, r) for k in kinds if (r := reason(a.table, k)) is not None)
            a = replace(a, known_gaps=known)
        out.append(a)
    accepted = {a.key for a in out if a.known_gap is not None}
    return [replace(a, blocked_by=tuple(b for b in a.blocked_by if b not in accepted))
            if set(a.blocked_by) & accepted else a for a in out]


def _field(typ: str, mode: str) -> tuple[str, str]:
    """One spelling for a column: DDL and INFORMATION_SCHEMA say ARRAY<T>, the API
    says T with mode REPEATED. Both become (T, REPEATED)."""
    t = canonical_type(typ)
    if t.startswith("ARRAY<") and t.endswith(">"):
        return canonical_type(t[6:-1]), "REPEATED"
    return t, mode


def normalize_view_sql(sql: str) -> str:
    """A view's SQL as compared with its declaration. The emulator's
    INFORMATION_SCHEMA.VIEWS gives the text back with quotes dropped from string
    literals and `-- x` comments as `/* x */` (docs/emulator.md); both spellings, and
    BigQuery's verbatim text, normalise to the same string. Pure."""
    sql = re.sub(r"--([^\n]*)", lambda m: f"/* {m.group(1).strip()} */", sql)
    sql = re.sub(r"/\*\s*(.*?)\s*\*/", lambda m: f"/* {m.group(1)} */", sql, flags=re.S)
    sql = sql.replace("`", "").replace("'", "").replace('"', "")
    return " ".join(sql.split()).rstrip(";").strip().lower()


def _norm_sql(sql: str) -> str:
    return normalize_view_sql(sql)


def restrict(p: Plan, kinds: Iterable[str] = (), objects: Iterable[str] = ()) -> Plan:
    """The same plan filtered to some action kinds and/or objects (single-flow runs)."""
    kinds, objects = set(kinds), list(objects)

    def keep(a: Action) -> bool:
        if kinds and a.kind not in kinds:
            return False
        if objects and not any(fnmatch.fnmatchcase(a.target, o) or a.dataset == o for o in objects):
            return False
        return True

    return replace(p, actions=tuple(a for a in p.actions if keep(a)))
