"""Parallel apply along the object graph, against the local BigQuery.

A plan of two datasets, tables, staging loads into them, a view over a loaded table and
gates, applied with parallelism 4 and with parallelism 1 (in two copies of the warehouse):
more than one action is in flight at once with 4, never with 1; each action starts only
after the earlier actions it depends on ended; the end state is the same and converged;
a failure blocks exactly the actions that depend on it, as in sequence; the progress
lines count completions 1..N.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from reconcile.apply import executor
from reconcile.apply.results import Outcome
from reconcile.apply.run import Run, dependencies
from reconcile.bq.adapter import Adapter
from reconcile.demo.data import build_staging
from reconcile.plan.actions import CreateDataset, CreateTable, CreateView, MergeLoad, Validate

pytestmark = pytest.mark.integration

import sys  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "apply"))
from apply_helpers import VIX_COLUMNS, assert_converged, checksum, copy_staging, make_plan, write_spec  # noqa: E402


def spec_text(p: str) -> str:
    tables = "".join(f"  {p}{d}.t{i}: {{columns: {VIX_COLUMNS}}}\n" for d in ("a", "b") for i in range(3))
    loads = "".join(f"  - {{source: staging/vix_daily.parquet, table: {p}{d}.t{i}, keys: [date]}}\n"
                    for d in ("a", "b") for i in range(3))
    return (f"version: 1\nproject: cbi-v14\ndefault_location: us-central1\nops_dataset: {p}a\n"
            f"datasets: {{{p}a: {{}}, {p}b: {{}}}}\ntables:\n{tables}"
            f"views:\n  {p}a.v_latest: {{sql: sql/v_latest.sql}}\n"
            f"loads:\n{loads}"
            f"expectations:\n  \"{p}b.t*\": {{min_rows: 100}}\n")


def view_sql(p: str) -> str:
    return f"SELECT MAX(date) AS date FROM `cbi-v14`.`{p}a`.`t0`\n"


class Tracker:
    """Runs each action for real (Run.execute) and records when it started and ended."""

    def __init__(self, fail: str | None = None):
        self.fail = fail
        self.lock = threading.Lock()
        self.running = 0
        self.peak = 0
        self.spans: dict[str, tuple[float, float]] = {}

    def __call__(self, run: Run, a) -> Outcome:
        t0 = time.monotonic()
        with self.lock:
            self.running += 1
            self.peak = max(self.peak, self.running)
        try:
            if a.key == self.fail:
                time.sleep(0.05)
                return Outcome(key=a.key, kind=a.kind, target=a.target, status="failed",
                               detail="failed on purpose by the test", observed={}, seconds=0.05)
            return Run.execute(run, a)
        finally:
            with self.lock:
                self.running -= 1
                self.spans[a.key] = (t0, time.monotonic())


def build(adapter: Adapter, root: Path, staging: Path, p: str):
    copy_staging(staging, root, ["vix_daily.parquet"])
    desired = write_spec(root, spec_text(p), files={"sql/v_latest.sql": view_sql(p)})
    plan, _ = make_plan(adapter, desired)
    return desired, plan


@pytest.fixture(scope="module")
def staging(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("staging")
    build_staging(out)
    return out


def test_dependencies_follow_the_graph(adapter: Adapter, ds_prefix: str, tmp_path: Path, staging: Path) -> None:
    p = ds_prefix
    desired, plan = build(adapter, tmp_path, staging, p)
    acts = list(plan.actions)
    idx = {a.key: i for i, a in enumerate(acts)}
    deps = dependencies(acts, desired)
    key = {type(a): a for a in acts}
    assert isinstance(key[CreateDataset], CreateDataset)
    ds_a = idx[f"CreateDataset:{p}a"]
    t0 = idx[f"CreateTable:{p}a.t0"]
    load0 = next(i for i, a in enumerate(acts) if isinstance(a, MergeLoad) and a.table == f"{p}a.t0")
    view = next(i for i, a in enumerate(acts) if isinstance(a, CreateView))
    assert ds_a in deps[t0] and t0 in deps[load0] and load0 in deps[view]
    # tables of the other dataset do not wait for dataset a's tables or loads
    b1 = idx[f"CreateTable:{p}b.t1"]
    assert not deps[b1] & {t0, load0, view}
    # a gate waits for the load of its table, not for another table's
    gate = next(i for i, a in enumerate(acts) if isinstance(a, Validate) and a.table == f"{p}b.t1")
    load_b1 = next(i for i, a in enumerate(acts) if isinstance(a, MergeLoad) and a.table == f"{p}b.t1")
    assert load_b1 in deps[gate] and load0 not in deps[gate]
    assert all(i < j for j, d in enumerate(deps) for i in d)


def test_parallel_apply_same_end_state_and_dependants_wait(adapter: Adapter, ds_prefix: str,
                                                          tmp_path: Path, staging: Path) -> None:
    results = {}
    for n, sub in ((4, "par_"), (1, "seq_")):
        p = ds_prefix + sub
        desired, plan = build(adapter, tmp_path / sub, staging, p)
        tracker, lines = Tracker(), []
        run = Run(plan, desired, adapter, run_id=executor.new_run_id())
        result = run.run_plan(execute=tracker, parallelism=n, progress=lines.append)
        assert result.ok, [o for o in result.outcomes if o.status == "failed"]
        assert_converged(adapter, desired)
        results[n] = (plan, desired, tracker, lines, result, p)
    (plan, desired, tracker, lines, result, p) = results[4]
    assert tracker.peak > 1 and results[1][2].peak == 1
    total = len(plan.changes)
    assert [ln.split("]")[0] + "]" for ln in lines] == [f"[{i}/{total}]" for i in range(1, total + 1)]
    assert [o.key for o in result.outcomes] == [a.key for a in plan.actions]  # plan order
    acts = list(plan.actions)
    for j, d in enumerate(dependencies(acts, desired)):
        for i in d:
            if acts[i].key in tracker.spans and acts[j].key in tracker.spans:
                assert tracker.spans[acts[i].key][1] <= tracker.spans[acts[j].key][0], (acts[i].key, acts[j].key)
    sp = results[1][5]
    for d in ("a", "b"):
        for i in range(3):
            assert checksum(adapter, f"{p}{d}.t{i}") == checksum(adapter, f"{sp}{d}.t{i}")


def test_a_failure_blocks_exactly_its_dependants(adapter: Adapter, ds_prefix: str, tmp_path: Path,
                                                 staging: Path) -> None:
    out = {}
    for n, sub in ((4, "par_"), (1, "seq_")):
        p = ds_prefix + sub
        desired, plan = build(adapter, tmp_path / sub, staging, p)
        failing = next(a.key for a in plan.actions if isinstance(a, CreateTable) and a.table == f"{p}a.t0")
        run = Run(plan, desired, adapter, run_id=executor.new_run_id())
        result = run.run_plan(execute=Tracker(fail=failing), parallelism=n)
        out[n] = {o.key.replace(p, "P."): (o.status, o.detail.replace(p, "P.").split("Job ID")[0])
                  for o in result.outcomes if o.kind != "Unmanaged"}  # the other copy's datasets
    par, seq = out[4], out[1]
    assert par == seq
    assert par["CreateTable:P.a.t0"][0] == "failed"
    blocked = {k for k, (s, _) in par.items() if s == "blocked"}
    assert any(k.startswith("MergeLoad:P.a.t0") for k in blocked)
    # the view reads the missing table: BigQuery refuses it, in parallel as in sequence
    assert par["CreateView:P.a.v_latest"][0] in ("failed", "blocked")
    assert par["CreateTable:P.a.t1"][0] == "done" and par["CreateTable:P.b.t0"][0] == "done"


def test_whole_dataset_rules(tmp_path: Path) -> None:
    """Pure: CreateDataset waits for nothing in its dataset (not for a relocation that
    merely appends its records to ops); two archives into one archive dataset wait for each
    other only where they share a table; whatever uses an archived source waits for it."""
    from reconcile.plan.actions import ArchiveDataset, BackupTable, RelocateDataset

    desired = write_spec(tmp_path, "version: 1\nproject: cbi-v14\ndefault_location: us-central1\n"
                         "ops_dataset: ops\ndatasets: {ops: {}, m: {}, arc: {}}\n")
    acts = [
        RelocateDataset(name="m", from_location="US", to_location="us-central1", table_names=(), rows=0),
        CreateDataset(name="ops", location="us-central1"),
        CreateDataset(name="arc", location="us-central1"),
        BackupTable(source="old1.t", backup="arc.backup__old1__t", rows=1),
        ArchiveDataset(name="old1", archive="arc", tables=(("old1.t", "arc.old1__t", 1),)),
        ArchiveDataset(name="old2", archive="arc", tables=(("old2.u", "arc.old2__u", 1),)),
        CreateTable(table="old2.v", columns=(("a", "INT64", "NULLABLE"),)),
    ]
    deps = dependencies(acts, desired)
    assert deps[1] == set()  # CreateDataset ops: not after the relocation
    assert 0 in deps[6] or 1 in deps[6]  # everything that changes anything follows CreateDataset ops
    assert 2 in deps[4] and 3 in deps[4]  # the archive: after its dataset and the backup of its table
    assert 4 not in deps[5]  # another archive into the same dataset: independent
    assert 5 in deps[6]  # what uses an archived source waits for the archive


def test_archive_copies_tables_concurrently(adapter: Adapter, ds_prefix: str, tmp_path: Path,
                                            staging: Path) -> None:
    """An ArchiveDataset run with parallelism copies its tables at once (more than one copy
    job in flight), proves each, and ends in the same state as in sequence."""
    from reconcile.apply.context import Context
    from reconcile.apply.handlers import HANDLERS
    from reconcile.plan.actions import ArchiveDataset, Plan

    import pyarrow.parquet as pq

    copy_staging(staging, tmp_path, ["vix_daily.parquet"])
    vix = tmp_path / "staging" / "vix_daily.parquet"
    n = pq.read_metadata(vix).num_rows
    peak = {}
    for par in (1, 4):
        p = f"{ds_prefix}arc{par}_"
        adapter.create_dataset(f"{p}old", "us-central1")
        adapter.create_dataset(f"{p}arc", "us-central1")
        names = [f"t{i}" for i in range(4)]
        for t in names:
            adapter.create_table(f"{p}old.{t}", [(c, ty, "NULLABLE") for c, ty in (("date", "DATE"), ("vix_close", "FLOAT64"))])
            assert adapter.load_parquet(vix, f"{p}old.{t}", location="us-central1") == n
        a = ArchiveDataset(name=f"{p}old", archive=f"{p}arc",
                           tables=tuple((f"{p}old.{t}", f"{p}arc.{p}old__{t}", n) for t in names))
        desired = write_spec(tmp_path / str(par), "version: 1\nproject: cbi-v14\ndefault_location: us-central1\n"
                             f"ops_dataset: {p}arc\ndatasets: {{{p}old: {{}}, {p}arc: {{}}}}\n")
        ctx = Context(Plan(project="cbi-v14", actions=(a,)), desired, adapter, executor.new_run_id())
        ctx.parallelism = par
        lock, running, top = threading.Lock(), [0], [0]
        real = adapter.copy_table

        def counted(*args, **kwargs):
            with lock:
                running[0] += 1
                top[0] = max(top[0], running[0])
            try:
                return real(*args, **kwargs)
            finally:
                with lock:
                    running[0] -= 1

        adapter.copy_table = counted
        try:
            done = HANDLERS[a](ctx, a)
        finally:
            del adapter.copy_table
        peak[par] = top[0]
        assert sorted(done.observed["copied"]) == [dest for _, dest, _ in a.tables]
        for src, dest, _ in a.tables:
            assert checksum(adapter, dest) == checksum(adapter, src)
    assert peak[1] == 1 and peak[4] > 1
