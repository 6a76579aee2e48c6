"""One fuzz example, start to end, and the invariants it must satisfy.

    run_example(shape, endpoint, staging_src, tmp) -> Report

seeds the shape's warehouse under a prefix of its own, then runs, through the apply
session the CLI uses (`reconcile.apply.session.Session`, target `local`, the whole
warehouse judged after the run as `reconcile apply` does):

    plan -> apply -> plan -> apply

and, when the shape has `kill_at`, the first apply runs in a process of its own
(tests/fuzz/kill_runner.py) and is killed with SIGKILL (by its PID) there; the lease the
dead run left is broken by its run id (what `reconcile apply --break-lease RUN --force`
does, a human's documented step: the fuzzer has seen the process die, so the lease it may
have renewed a moment before the kill is known dead) and the apply is run again before the
second plan.

Approvals: the fuzzer passes `--approve-relocation` for every declared dataset it seeded in
the wrong region when the shape says `approve` (about half the examples), and never passes
`--allow-destructive`: with no allow nothing may be deleted, so every object that was in the
warehouse before must still be there afterwards (relocated datasets: same objects, same rows,
the declared region).

The warehouse is read in full (every object's type, schema, rows as a multiset of
canonical rows, view SQL) before the first apply, after it, and after the second apply.
Each invariant that fails is a `Violation` subclass (so Hypothesis tells them apart) with
a message naming the objects; see INVARIANTS.
"""

from __future__ import annotations

import collections
import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reconcile.apply import executor
from reconcile.apply.lease import break_lease
from reconcile.apply.session import EXIT_ERROR, Scope, Session
from reconcile.bq.adapter import Adapter
from reconcile.bq.clients import local_client
from reconcile.plan.actions import Plan
from reconcile.plan.names import archive_name, backup_name
from reconcile.spec.load import load_spec

import warehouse as W

PROJECT = "cbi-v14"
KILL_RUNNER = Path(__file__).with_name("kill_runner.py")


# ---------------------------------------------------------------- violations


def project_row(row: tuple, columns: set[str]) -> tuple:
    d = dict(row)
    return tuple((c, d.get(c)) for c in sorted(columns))


class Violation(AssertionError):
    """An invariant of issue 13 that does not hold. `invariant` is its short name."""

    invariant = "violation"


class NotConverged(Violation):
    invariant = "second plan exits 0, or 3 with every remaining item a named block"


class ApplyError(Violation):
    invariant = "apply never exits 1 on a state the planner could have foreseen"


class SecondApplyChanged(Violation):
    invariant = "the second apply changes nothing outside ops"


class RowsLost(Violation):
    invariant = "no row lost or duplicated in a table the spec migrates, loads, relocates or archives"


class ForeignTouched(Violation):
    invariant = "every object the tool does not own is unchanged (schema, rows, checksum, type)"


class BackupMissing(Violation):
    invariant = "backup first: a migrated table has a backup matching its source"


INVARIANTS = (NotConverged, ApplyError, SecondApplyChanged, RowsLost, ForeignTouched, BackupMissing)


# ---------------------------------------------------------------- the warehouse, read in full


def _norm(v: Any) -> Any:
    if isinstance(v, bool):
        return v
    if isinstance(v, (int, float)):
        return float(v)
    if isinstance(v, (dt.date, dt.datetime)):
        return v.isoformat()
    return v


Row = tuple  # ((column, value), ...) sorted by column


@dataclass(frozen=True)
class Obj:
    type: str
    schema: tuple[tuple[str, str, str], ...]
    rows: collections.Counter | None  # None for a view
    view_sql: str | None = None

    def project(self, columns: set[str]) -> collections.Counter:
        """Rows as (column, value) over `columns`, sorted by name; a column the row lacks
        reads NULL (a column added since holds NULL in every old row: no value changed)."""
        out: collections.Counter = collections.Counter()
        for row, n in (self.rows or {}).items():
            out[project_row(row, columns)] += n
        return out

    @property
    def n(self) -> int:
        return sum((self.rows or {}).values())


@dataclass
class State:
    datasets: dict[str, str]  # name -> location
    objects: dict[str, Obj]  # "dataset.name" -> object


def observe(adapter: Adapter, p: str) -> State:
    """Every dataset under prefix `p` and every object in them, rows included."""
    client = adapter.client
    datasets = {n: loc for n, loc in adapter.list_datasets() if n.startswith(p)}
    objects: dict[str, Obj] = {}
    for ds in sorted(datasets):
        listed = adapter.list_tables(ds)
        views = adapter.view_definitions(ds, location=datasets[ds]) if any(t == "VIEW" for _, t in listed) else {}
        for name, typ in listed:
            table = client.get_table(f"{adapter.project}.{ds}.{name}")
            schema = tuple((f.name, f.field_type, f.mode or "NULLABLE") for f in table.schema)
            if typ == "VIEW":
                objects[f"{ds}.{name}"] = Obj(typ, schema, None, views.get(name))
                continue
            rows: collections.Counter = collections.Counter()
            for r in client.list_rows(table):
                rows[tuple(sorted((k, _norm(v)) for k, v in r.items()))] += 1
            objects[f"{ds}.{name}"] = Obj(typ, schema, rows)
    return State(datasets, objects)


def diff_rows(want: collections.Counter, have: collections.Counter) -> tuple[int, int]:
    """(rows lost, rows extra or duplicated) of `have` against `want`."""
    lost = sum((want - have).values())
    extra = sum((have - want).values())
    return lost, extra


# ---------------------------------------------------------------- plan and apply


@dataclass
class Step:
    what: str
    exit_code: int
    detail: str = ""
    changes: int = 0
    seconds: float = 0.0


@dataclass
class Report:
    shape: W.Shape
    prefix: str
    staging: Path
    steps: list[Step] = field(default_factory=list)
    rows_checked: int = 0
    violations: list[Violation] = field(default_factory=list)
    seconds: float = 0.0

    def add(self, v: Violation) -> None:
        self.violations.append(v)


def _adapter(endpoint: str, run_id: str | None = None) -> Adapter:
    return Adapter(local_client(PROJECT, endpoint), PROJECT, run_id=run_id, emulator=True)


def _session(desired, endpoint: str, approvals: tuple[str, ...]) -> Session:
    run_id = executor.new_run_id()
    return Session(desired, _adapter(endpoint, run_id), run_id=run_id, target="local",
                   scope=Scope(approvals=approvals), verify_whole=True)


def do_plan(desired, endpoint: str, approvals: tuple[str, ...]) -> tuple[Plan | None, Step]:
    t0 = time.monotonic()
    try:
        p = _session(desired, endpoint, approvals).plan()
    except Exception as e:  # noqa: BLE001 - `reconcile plan` would exit 1 with this message
        return None, Step("plan", EXIT_ERROR, f"{type(e).__name__}: {e}", 0, time.monotonic() - t0)
    return p, Step("plan", p.exit_code(), _items(p), len(p.changes), time.monotonic() - t0)


def do_apply(desired, endpoint: str, approvals: tuple[str, ...]) -> tuple[Any, Step]:
    """Plan and apply as `reconcile apply --auto-approve` does (exit code included)."""
    t0 = time.monotonic()
    try:
        s = _session(desired, endpoint, approvals)
        p = s.plan()
        applied = s.apply(p)
    except Exception as e:  # noqa: BLE001 - the CLI's last line of defence: exit 1
        return None, Step("apply", EXIT_ERROR, f"{type(e).__name__}: {e}", 0, time.monotonic() - t0)
    code = EXIT_ERROR if applied.failure else applied.exit_code
    detail = applied.failure or "; ".join(f"{o.key}: {o.detail}" for o in applied.failed) or applied.reason
    return applied, Step("apply", code, detail, len(p.changes), time.monotonic() - t0)


def _items(p: Plan) -> str:
    return ", ".join(a.key + (" (blocked)" if a.is_blocked else "") for a in p.actions
                     if a.kind != "Unmanaged")


def kill_apply(spec: Path, endpoint: str, approvals: tuple[str, ...], point: str,
               timeout: float = 240) -> tuple[str | None, bool, list[str]]:
    """The first apply in a process of its own, SIGKILLed by its PID at `point`.
    Returns (its run id, whether it was killed, its output)."""
    env = {**os.environ, executor.PAUSE_ENV: point, "RECONCILE_TEST_PAUSE_SECONDS": "300"}
    proc = subprocess.Popen([sys.executable, "-u", str(KILL_RUNNER), endpoint, str(spec), *approvals],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    pid, run_id, killed, seen = proc.pid, None, False, []
    deadline = time.monotonic() + timeout
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            seen.append(line.rstrip())
            if line.startswith("RUN_ID "):
                run_id = line.split()[1]
            if line.startswith(f"{executor.PAUSE_MARKER} {point}"):
                os.kill(pid, signal.SIGKILL)
                killed = True
                break
            if time.monotonic() > deadline:
                break
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            os.kill(pid, signal.SIGKILL)
            proc.wait(timeout=30)
    return run_id, killed, seen


# ---------------------------------------------------------------- the example


def approvals_of(shape: W.Shape, p: str) -> tuple[str, ...]:
    if not shape.approve:
        return ()
    declared = set(shape.declared_datasets())
    return tuple(p + ds for ds, loc in shape.datasets if ds in declared and loc != W.RIGHT)


def run_example(shape: W.Shape, endpoint: str, staging_src: Path, root: Path, p: str) -> Report:
    t0 = time.monotonic()
    rep = Report(shape, p, staging_src)
    adapter = _adapter(endpoint)
    try:
        spec = W.write_project(shape, p, root, staging_src)
        desired = load_spec(spec, root=root)
        W.seed(adapter, shape, p, staging_src, root)
        before = observe(adapter, p)
        approvals = approvals_of(shape, p)

        if shape.kill_at:
            run_id, killed, out = kill_apply(spec, endpoint, approvals, shape.kill_at)
            rep.steps.append(Step(f"apply killed at {shape.kill_at}" if killed else
                                  f"apply (not killed: {shape.kill_at} not reached)",
                                  -9 if killed else 0, "\n".join(out[-5:])))
            if killed and run_id:
                # The process is known dead (SIGKILL, waited for): its lease may have been
                # renewed just before the kill, which the liveness rule would read as alive.
                break_lease(adapter, desired, run_id, force=True)
        applied, s1 = do_apply(desired, endpoint, approvals)
        rep.steps.append(s1)
        # The second plan: the warehouse read again after the first apply, planned over the
        # whole spec (the session's own re-read, as `reconcile apply` reports it; a separate
        # `reconcile plan` reads and plans the same way).
        p2 = applied.after if applied is not None else None
        if p2 is None:
            p2, s2 = do_plan(desired, endpoint, approvals)
        else:
            s2 = Step("plan", p2.exit_code(), _items(p2), len(p2.changes))
        rep.steps.append(s2)
        # The second apply. With nothing to change it runs nothing (Session.apply returns
        # before holding or running anything), so the warehouse is read once, after it.
        s = _session(desired, endpoint, approvals)
        t = time.monotonic()
        try:
            p3 = s.plan()
        except Exception as e:  # noqa: BLE001
            p3 = None
            rep.steps.append(Step("apply", EXIT_ERROR, f"{type(e).__name__}: {e}", 0, time.monotonic() - t))
        after1 = observe(adapter, p) if p3 is not None and p3.changes else None
        if p3 is not None:
            try:
                applied2 = s.apply(p3)
                code = EXIT_ERROR if applied2.failure else applied2.exit_code
                detail = applied2.failure or "; ".join(f"{o.key}: {o.detail}" for o in applied2.failed) \
                    or applied2.reason
            except Exception as e:  # noqa: BLE001
                code, detail = EXIT_ERROR, f"{type(e).__name__}: {e}"
            rep.steps.append(Step("apply", code, detail, len(p3.changes), time.monotonic() - t))
        after2 = observe(adapter, p)
        if after1 is None:
            after1 = after2  # nothing ran: nothing could change
        check(rep, desired, before, after1, after2, p2, approvals)
    finally:
        for name, _ in adapter.list_datasets():
            if name.startswith(p):
                adapter.delete_dataset(name)
        rep.seconds = time.monotonic() - t0
    return rep


# ---------------------------------------------------------------- the invariants


def _named(p2: Plan | None, *names: str) -> list[str]:
    """Keys of the blocked items of the second plan that name any of `names`."""
    if p2 is None:
        return []
    out = []
    for a in p2.actions:
        if not (a.is_blocked or a.reports_only) or a.kind == "Unmanaged":
            continue
        text = json.dumps(a.to_dict(), default=str)
        if any(n and n in text for n in names):
            out.append(a.key)
    return out


def check(rep: Report, desired, before: State, after1: State, after2: State, p2: Plan | None,
          approvals: tuple[str, ...]) -> None:
    shape, p = rep.shape, rep.prefix
    steps = {i: s for i, s in enumerate(rep.steps)}
    applies = [s for s in steps.values() if s.what == "apply"]
    plan2 = next(s for s in steps.values() if s.what == "plan")

    # 1. apply never exits 1
    for i, s in enumerate(applies, 1):
        if s.exit_code == EXIT_ERROR:
            rep.add(ApplyError(f"apply {i} exited 1: {s.detail}"))
    # 2. the second plan: 0, or 3 with every remaining item a named block
    if p2 is None:
        rep.add(NotConverged(f"the second plan failed (exit 1): {plan2.detail}"))
    else:
        pending = [a.key for a in p2.changes if a.known_gap is None]
        if pending or p2.exit_code() not in (0, 3):
            rep.add(NotConverged(f"the second plan exits {p2.exit_code()} with changes still pending: "
                                 f"{', '.join(pending)}"))
    # 3. the second apply changes nothing outside ops
    ops = desired.ops_dataset
    changed = []
    for ds in sorted(set(after1.datasets) | set(after2.datasets)):
        if ds != ops and after1.datasets.get(ds) != after2.datasets.get(ds):
            changed.append(f"dataset {ds}: {after1.datasets.get(ds)} -> {after2.datasets.get(ds)}")
    for ref in sorted(set(after1.objects) | set(after2.objects)):
        if ref.split(".")[0] == ops:
            continue
        a, b = after1.objects.get(ref), after2.objects.get(ref)
        if a != b:
            changed.append(f"{ref}: {_what(a)} -> {_what(b)}")
    if changed:
        rep.add(SecondApplyChanged("the second apply changed: " + "; ".join(changed[:8])))

    owned = _check_owned(rep, desired, before, after2, p2)
    _check_foreign(rep, desired, before, after2, owned, approvals)


def _what(o: Obj | None) -> str:
    if o is None:
        return "absent"
    return f"{o.type} {len(o.schema)} col {o.n} rows"


def _check_owned(rep: Report, desired, before: State, after: State, p2: Plan | None) -> set[str]:
    """Tables the spec migrates, loads, backs up or archives: their rows against their
    sources. Returns the refs the spec owns (their own rules apply, not "unchanged")."""
    shape, p = rep.shape, rep.prefix
    owned: set[str] = set()
    arc = p + W.cbi()["archive"]["dataset"] if "archive" in shape.parts else None
    backup_ds = arc or desired.ops_dataset

    # Migrations: destination == source; its backup == source.
    for part in shape.migrations():
        src_ds = p + W.migration_source_dataset(part)
        for ref, o in sorted(before.objects.items()):
            ds, name = ref.split(".", 1)
            if ds != src_ds or o.type == "VIEW" or not W.migration_matches(part, name):
                continue
            dest = p + W.migration_destination(part, name)
            owned.add(dest)
            got = after.objects.get(dest)
            named = _named(p2, dest, ref)
            pre = before.objects.get(dest)
            if got is None:
                if not named:
                    rep.add(RowsLost(f"migration {ref} -> {dest}: the destination does not exist and no "
                                     "item of the second plan names it"))
                continue
            rep.rows_checked += got.n
            lost, extra = diff_rows(o.rows, got.rows)
            if lost or extra:
                if pre is not None and pre.rows == got.rows and named:
                    continue  # a destination already there, left as it was, with a named block
                rep.add(RowsLost(f"migration {ref} -> {dest}: {lost} row(s) of the source missing, "
                                 f"{extra} extra or duplicated ({o.n} in the source, {got.n} in the copy)"
                                 + (f"; it existed before with {pre.n} rows" if pre else "")))
                continue
            bk = f"{backup_ds}.{backup_name(ds, name)}"
            b = after.objects.get(bk)
            if pre is None and (b is None or b.rows != o.rows):
                rep.add(BackupMissing(f"{dest} was migrated from {ref} but its backup {bk} "
                                      + ("does not exist" if b is None else f"holds {b.n} rows, not the source's {o.n}")))
            owned.add(bk)

    # Archive: every table of a source dataset has its copy, equal to it.
    if arc is not None:
        rule = desired.archive
        sources: dict[str, list[str]] = collections.defaultdict(list)
        for ref, o in sorted(before.objects.items()):
            ds, name = ref.split(".", 1)
            if ds != arc and rule.matches(ds) and o.type != "VIEW":
                sources[f"{arc}.{archive_name(ds, name)}"].append(ref)
        for copy, refs in sorted(sources.items()):
            owned.add(copy)
            got = after.objects.get(copy)
            named = _named(p2, copy, *refs, *(r.split(".")[0] for r in refs))
            if got is None:
                if not named:
                    rep.add(RowsLost(f"archive: {copy} (from {', '.join(refs)}) does not exist and no "
                                     "item of the second plan names it"))
                continue
            rep.rows_checked += got.n
            matches = [r for r in refs if before.objects[r].rows == got.rows]
            pre = before.objects.get(copy)
            if len(refs) > 1 and not named:
                rep.add(RowsLost(f"archive-name collision: {', '.join(refs)} all archive to {copy}, which "
                                 f"holds the rows of {matches or 'none of them'}; no item of the second plan "
                                 "names the collision"))
            elif not matches and not (pre is not None and pre.rows == got.rows and named):
                lost, extra = diff_rows(before.objects[refs[0]].rows, got.rows)
                rep.add(RowsLost(f"archive: {copy} differs from its source {refs[0]}: {lost} row(s) lost, "
                                 f"{extra} extra or duplicated"))

    # Loads: target == the file's rows + the target's rows of other keys.
    for stem in shape.loads():
        table = p + W.load_table_of(stem)
        owned.add(table)
        keys = W.load_keys(stem)
        file_obj = _file_rows(shape, stem, rep.staging)
        if file_obj is None:  # missing source: the table must just not lose rows
            continue
        pre, got = before.objects.get(table), after.objects.get(table)
        named = _named(p2, table)
        if got is None:
            if not named:
                rep.add(RowsLost(f"load {stem} -> {table}: the table does not exist and no item of the "
                                 "second plan names it"))
            continue
        cols = {c for c, _, _ in got.schema}
        fcols = {c for c, _ in next(iter(file_obj), ())} if file_obj else cols
        common = cols & (fcols | ({c for c, _, _ in pre.schema} if pre else set()))
        want = collections.Counter()
        file_keys = set()
        for row, n in file_obj.items():
            d = dict(row)
            file_keys.add(tuple(d.get(k) for k in keys))
            want[project_row(row, common)] += n
        if pre is not None:
            for row, n in pre.project(common).items():
                d = dict(row)
                if tuple(d.get(k) for k in keys) not in file_keys:
                    want[row] += n
        have = got.project(common)
        rep.rows_checked += got.n
        lost, extra = diff_rows(want, have)
        if lost or extra:
            if pre is not None and pre.project(common) == have and named:
                continue  # refused or blocked, left as it was
            if pre is None and not have and named:
                continue
            rep.add(RowsLost(f"load {stem} -> {table}: {lost} row(s) lost, {extra} extra or duplicated "
                             f"against the file ({sum(file_obj.values())} rows) merged on {list(keys)} into "
                             f"what was there ({pre.n if pre else 0} rows); the table holds {got.n}"))
    return owned


def _file_rows(shape: W.Shape, stem: str, staging_src: Path) -> collections.Counter | None:
    if stem == "cftc_commitments":
        return None
    if stem == "regime_calendar":
        t = W.regime_calendar()
    else:
        t = W.cut(W.staging_tables(staging_src)[stem], shape.rows_of_file(stem))
    out: collections.Counter = collections.Counter()
    for r in t.to_pylist():
        out[tuple(sorted((k, _norm(v)) for k, v in r.items()))] += 1
    return out


def _check_foreign(rep: Report, desired, before: State, after: State, owned: set[str],
                   approvals: tuple[str, ...]) -> None:
    """Everything that was there and is not the spec's: unchanged (relocated datasets move)."""
    for ds, loc in sorted(before.datasets.items()):
        now = after.datasets.get(ds)
        if now is None:
            rep.add(ForeignTouched(f"dataset {ds} ({loc}) was deleted"))
        elif now != loc and not (ds in approvals and now == desired.location_of(ds)):
            rep.add(ForeignTouched(f"dataset {ds} moved from {loc} to {now} without an approval"))
    for ref, o in sorted(before.objects.items()):
        if ref in owned:
            continue
        got = after.objects.get(ref)
        if got is None:
            rep.add(ForeignTouched(f"{ref} ({o.type}, {o.n} rows) is gone"))
            continue
        if got.type != o.type:
            rep.add(ForeignTouched(f"{ref} was a {o.type}, is now a {got.type}"))
        if o.type == "VIEW":
            if got.view_sql != o.view_sql:
                rep.add(ForeignTouched(f"view {ref} changed: {o.view_sql!r} -> {got.view_sql!r}"))
            continue
        before_cols = {c for c, _, _ in o.schema}
        if got.schema != o.schema:
            rep.add(ForeignTouched(f"{ref} schema changed: {list(o.schema)} -> {list(got.schema)}"))
        rep.rows_checked += o.n
        lost, extra = diff_rows(o.project(before_cols), got.project(before_cols))
        if lost or extra:
            rep.add(ForeignTouched(f"{ref}: {lost} row(s) lost, {extra} added or duplicated "
                                   f"({o.n} before, {got.n} after)"))
