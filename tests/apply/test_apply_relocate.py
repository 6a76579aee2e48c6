"""Apply: relocating a dataset to another region, and resuming after a crash.

A dataset seeded in US with real data (two tables, one declared and one not, and a
view) is declared in us-central1. With the relocation approved, apply copies it out,
verifies, deletes, recreates it in the right region, copies back, verifies and drops
the temporary dataset, checkpointing each step. The crash tests run apply in a child
process, kill it with SIGKILL at a known step (RECONCILE_TEST_PAUSE_AT), and check the
next apply finishes the job with no row lost or duplicated.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from apply_helpers import (
    VIX_COLUMNS, apply_plan, assert_converged, checksum, copy_staging, load_table, make_plan, write_spec,
)
from reconcile.apply import executor
from reconcile.local import emulator as local
from reconcile.plan.actions import RelocateDataset
from reconcile.bq.adapter import Adapter
from reconcile.plan.names import RELOCATION_SUFFIX

pytestmark = pytest.mark.integration

RUNNER = Path(__file__).with_name("crash_runner.py")
WEATHER_NULLABLE = ("[{name: date, type: DATE}, {name: station, type: STRING}, {name: precipitation, type: FLOAT64}, "
                    "{name: temp_max, type: FLOAT64}, {name: temp_min, type: FLOAT64}, {name: wind, type: FLOAT64}, "
                    "{name: weather, type: STRING}]")


def spec_text(p: str, loads: str = "[]") -> str:
    return f"""\
        version: 1
        project: cbi-v14
        default_location: us-central1
        ops_dataset: {p}ops
        datasets:
          {p}mkt: {{description: market data}}
          {p}ops: {{}}
        tables:
          {p}mkt.weather_granular: {{columns: {WEATHER_NULLABLE}}}
          {p}mkt.vix_daily: {{columns: {VIX_COLUMNS}}}
        views:
          {p}mkt.by_station: {{sql: sql/by_station.sql}}
        loads: {loads}
        """


def seed_us(adapter: Adapter, p: str, staging_src: Path, tmp: Path, project_root: Path):
    """{p}mkt in US holding real rows and a view; returns the spec and the checksums."""
    files = {"sql/by_station.sql": f"SELECT station, COUNT(*) AS days FROM `{p}mkt.weather_granular` GROUP BY station\n"}
    desired = write_spec(project_root, spec_text(p), files)
    adapter.create_dataset(f"{p}mkt", "US")
    load_table(adapter, f"{p}mkt.weather_granular", pq.read_table(staging_src / "weather_granular.parquet"), tmp, "US")
    load_table(adapter, f"{p}mkt.fred_macro", pq.read_table(staging_src / "fred_macro_expanded.parquet"), tmp, "US")
    adapter.execute(f"CREATE VIEW {adapter.q(p + 'mkt.by_station')} AS "
                    f"SELECT station, COUNT(*) AS days FROM `{p}mkt.weather_granular` GROUP BY station",
                    location="US")
    sums = {t: checksum(adapter, f"{p}mkt.{t}") for t in ("weather_granular", "fred_macro")}
    return desired, sums


def assert_relocated(adapter: Adapter, p: str, sums: dict) -> None:
    datasets = dict(adapter.list_datasets())
    assert datasets[f"{p}mkt"] == "us-central1"
    assert f"{p}mkt{RELOCATION_SUFFIX}" not in datasets
    for t, s in sums.items():
        assert checksum(adapter, f"{p}mkt.{t}") == s
    assert dict(adapter.list_tables(f"{p}mkt"))["by_station"] == "VIEW"
    assert adapter.query(f"SELECT days FROM {adapter.q(p + 'mkt.by_station')}") == [{"days": 1461}]


def test_relocation_converges_with_rows_intact(adapter: Adapter, ds_prefix: str, project_root: Path,
                                               staging_src: Path, tmp_path: Path) -> None:
    p = ds_prefix
    desired, sums = seed_us(adapter, p, staging_src, tmp_path, project_root)
    plan, _ = make_plan(adapter, desired)
    assert f"FlagRecreate:{p}mkt" in [a.key for a in plan.blocked]
    plan, _ = make_plan(adapter, desired, approvals=[f"{p}mkt"])
    reloc = next(a for a in plan.changes if isinstance(a, RelocateDataset))
    result = apply_plan(adapter, desired, plan)
    assert result.ok, [(o.key, o.detail) for o in result.outcomes if o.status not in ("done", "skipped")]
    o = result.by_key()[reloc.key]
    assert o.status == "done" and o.observed["steps"] == list(executor.RELOCATION_STEPS)
    assert o.observed["rows"] == 1461 + 11464 and o.observed["views"] == ["by_station"]
    assert_relocated(adapter, p, sums)
    steps = adapter.query(f"SELECT step FROM {adapter.q(p + 'ops.relocation_checkpoints')} ORDER BY `at`")
    # "begin" is recorded before the temporary dataset is made: from then on it is the tool's own.
    assert [r["step"] for r in steps] == ["begin", *executor.RELOCATION_STEPS]
    assert_converged(adapter, desired, approvals=[f"{p}mkt"])


def _run_until(endpoint: str, spec: Path, pause_at: str, *args: str) -> None:
    """Start the runner, wait for its pause marker, then kill -9 it by its PID."""
    env = {**os.environ, executor.PAUSE_ENV: pause_at}
    proc = subprocess.Popen([sys.executable, "-u", str(RUNNER), endpoint, str(spec), *args],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    seen: list[str] = []
    deadline = time.monotonic() + 120
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            seen.append(line.rstrip())
            if line.startswith(f"{executor.PAUSE_MARKER} {pause_at}"):
                os.kill(proc.pid, signal.SIGKILL)
                break
            if time.monotonic() > deadline:
                break
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            local.stop_pid(proc.pid)
    assert proc.returncode == -signal.SIGKILL, "\n".join(seen[-30:])


@pytest.mark.parametrize("killed_at", ["copy_out:tables_copied", "verify_out", "delete_old", "copy_back",
                                       "drop_temp"])
def test_relocation_resumes_after_kill(killed_at: str, adapter: Adapter, emulator: local.LocalEmulator,
                                       ds_prefix: str, project_root: Path, staging_src: Path,
                                       tmp_path: Path) -> None:
    p = ds_prefix
    desired, sums = seed_us(adapter, p, staging_src, tmp_path, project_root)
    _run_until(emulator.endpoint, project_root / "desired_state" / "spec.yaml", f"relocate:{killed_at}",
               f"{p}mkt")

    datasets = dict(adapter.list_datasets())
    steps = list(executor.RELOCATION_STEPS)
    if killed_at in steps:
        # A checkpoint was written: the next plan resumes after it, no approval needed.
        plan, snap = make_plan(adapter, desired)
        assert snap.checkpoints[f"{p}mkt"] == killed_at
        remaining = steps[steps.index(killed_at) + 1:]
    else:
        # Killed inside copy_out, after the "begin" checkpoint: the old dataset is intact and the
        # half-filled temporary copy, recorded as the tool's own, is redone from scratch.
        assert datasets[f"{p}mkt"] == "US"
        plan, snap = make_plan(adapter, desired)
        assert snap.checkpoints[f"{p}mkt"] == "begin"
        remaining = steps
    if killed_at == "delete_old":
        # Killed right after the old dataset was deleted: only the temporary copy holds the rows.
        assert f"{p}mkt" not in datasets and datasets[f"{p}mkt{RELOCATION_SUFFIX}"] == "us-central1"
    reloc = next(a for a in plan.changes if isinstance(a, RelocateDataset))
    assert reloc.resume_step == snap.checkpoints.get(f"{p}mkt")
    result = apply_plan(adapter, desired, plan)
    assert result.ok, [(o.key, o.detail) for o in result.outcomes if o.status not in ("done", "skipped")]
    assert result.by_key()[reloc.key].observed["steps"] == remaining
    assert_relocated(adapter, p, sums)
    assert_converged(adapter, desired)


def test_merge_load_resumes_after_kill_between_merge_and_ledger(
        adapter: Adapter, emulator: local.LocalEmulator, ds_prefix: str, project_root: Path,
        staging_src: Path) -> None:
    p = ds_prefix
    copy_staging(staging_src, project_root, ["vix_daily.parquet"])
    loads = f"[{{source: staging/vix_daily.parquet, table: {p}mkt.vix_daily, keys: [date]}}]"
    files = {"sql/by_station.sql": f"SELECT station FROM `{p}mkt.weather_granular`\n"}
    desired = write_spec(project_root, spec_text(p, loads), files)
    _run_until(emulator.endpoint, project_root / "desired_state" / "spec.yaml", "merge:merged")

    # Killed after the MERGE, before the temporary table was dropped and the ledger written.
    assert [t for t, _ in adapter.list_tables(f"{p}mkt") if t.startswith(executor.TMP_PREFIX)]
    assert adapter.count_rows(f"{p}mkt.vix_daily") == 1259
    plan, _ = make_plan(adapter, desired)
    assert [a.kind for a in plan.changes] == ["MergeLoad", "CreateView"]  # the view came after
    result = apply_plan(adapter, desired, plan)
    o = next(o for o in result.outcomes if o.kind == "MergeLoad")
    assert o.status == "done" and (o.observed["inserted"], o.observed["updated"]) == (0, 0)
    assert adapter.count_rows(f"{p}mkt.vix_daily") == 1259
    assert not [t for t, _ in adapter.list_tables(f"{p}mkt") if t.startswith(executor.TMP_PREFIX)]
    ledger = adapter.query(f"SELECT COUNT(*) AS n FROM {adapter.q(p + 'ops.load_ledger')}")
    assert ledger == [{"n": 1}]
    assert_converged(adapter, desired)
