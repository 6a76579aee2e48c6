"""Crashes: kill -9 the apply process at 20 different points, then one more apply.

Each case, under its own dataset prefix (WORKERS cases run side by side), seeds the
scenario warehouse (tests/reliability/reliability_scenario.py: a wrong-region dataset to
relocate, legacy tables to back up and migrate, two staging files to merge, a transform,
views, a gate, a backup dataset to archive), starts the apply in a process of its own
(`pause_runner.py`, i.e. tests/apply/crash_runner.py) with RECONCILE_TEST_PAUSE_AT set,
waits for the executor's pause marker, and kills the process with SIGKILL by its recorded
PID. Then one more apply, in this process, must converge (the next plan is empty) and
every table must hold exactly its source's rows (count and content checksum).
"""

from __future__ import annotations

import concurrent.futures as cf
import os
import signal
import subprocess
import sys
import threading
import time
import traceback
from pathlib import Path

import pytest

import reliability_scenario as scenario
from apply_helpers import apply_plan, assert_converged, make_plan
from reconcile.apply import executor
from reconcile.local import emulator as local
from reconcile.bq.adapter import Adapter, local_client

PROJECT = "cbi-v14"

pytestmark = [pytest.mark.reliability, pytest.mark.integration]

RUNNER = Path(__file__).with_name("pause_runner.py")
RELOCATION = ["copy_out:tables_copied", *executor.RELOCATION_STEPS]

# (pause point, where it is)
POINTS: list[tuple[str, str]] = [
    ("before:CreateTable:1", "between actions: datasets created (and relocated), before the first table"),
    ("before:BackupTable:2", "between actions: one backup taken, before the second"),
    ("before:MigrateTable:1", "between actions: backups taken, before the first migration"),
    ("before:MigrateTable:2", "between actions: one table migrated, before the second"),
    ("before:MergeLoad:1", "between actions: migrations done, before the first load"),
    ("before:MergeLoad:2", "between actions: one file merged, before the second"),
    ("before:RunTransform:1", "between actions: loads done, before the transform"),
    ("before:Validate:1", "between actions: view created, before the gate"),
    ("before:ArchiveDataset:1", "between actions: before the archive (last action)"),
    ("merge:merged", "inside a load: MERGE committed, temporary table not dropped, no ledger row"),
    ("migrate:copied", "inside a migration: copy job done, count not verified, no ledger row"),
] + [(f"relocate:{s}", "relocation: inside copy_out, tables copied, views not saved, no checkpoint"
      if s == "copy_out:tables_copied" else f"relocation: step {s} done and checkpointed")
     for s in RELOCATION]
assert len(POINTS) == 20 and len({p for p, _ in POINTS}) == 20


def kill_at(endpoint: str, spec: Path, point: str, approvals: list[str], timeout: float = 120) -> list[str]:
    """Run the apply in a child process until it pauses at `point`; kill -9 it by PID.
    Returns the child's output up to the kill."""
    env = {**os.environ, executor.PAUSE_ENV: point, "RECONCILE_TEST_PAUSE_SECONDS": "300"}
    proc = subprocess.Popen([sys.executable, "-u", str(RUNNER), endpoint, str(spec), *approvals],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    pid = proc.pid
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    killed = False
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            seen.append(line.rstrip())
            if line.startswith(f"{executor.PAUSE_MARKER} {point}"):
                os.kill(pid, signal.SIGKILL)
                killed = True
                break
            if time.monotonic() > deadline:
                break
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            local.stop_pid(pid)
    assert killed and proc.returncode == -signal.SIGKILL, \
        f"pid {pid} never paused at {point}:\n" + "\n".join(seen[-30:])
    return seen


def _state_after_kill(lines: list[str], point: str) -> str:
    actions = [ln for ln in lines if ln.startswith("[")]
    if not actions:
        return "before any action"
    last = actions[-1].split("] ", 1)[1]
    n = actions[-1][1:].split("/", 1)[0]
    if point.startswith("before:"):
        return f"{int(n) - 1} action(s) done, action {n} ({last.split(' ', 1)[0]}) not started"
    return f"inside action {n} ({last.split(' ', 1)[0]})"


WORKERS = 3  # cases run side by side (each under its own prefix) to keep the suite short


def run_case(endpoint: str, point: str, root: Path, tmp: Path, staging_src: Path, sums_cache: dict,
             lock: threading.Lock) -> dict:
    """One crash case, start to end; returns its figures (or raises)."""
    adapter = Adapter(local_client(PROJECT, endpoint), PROJECT, emulator=True)
    p = scenario.unique_prefix(point)
    try:
        (root / "desired_state").mkdir(parents=True)
        desired = scenario.write(root, p, staging_src)
        scenario.seed(adapter, p, staging_src, tmp)
        with lock:
            want = scenario.want_for(adapter, p, staging_src, sums_cache)

        lines = kill_at(endpoint, root / "desired_state" / "spec.yaml", point, scenario.approvals(p))
        after_kill = _state_after_kill(lines, point)

        plan, snap = make_plan(adapter, desired, approvals=scenario.approvals(p))
        resume = snap.checkpoints.get(f"{p}mkt")
        result = apply_plan(adapter, desired, plan)
        next_apply = ", ".join(f"{k} {v}" for k, v in sorted(result.counts().items()))
        if resume and resume != "done":
            next_apply += f"; relocation resumed after `{resume}`"
        failed = [(o.key, o.detail) for o in result.outcomes if o.status == "failed"]

        bad, lost, extra = scenario.verify(adapter, p, want)
        converged = True
        try:
            assert_converged(adapter, desired, approvals=scenario.approvals(p))
        except AssertionError:
            converged = False
        return {"after_kill": after_kill, "next_apply": next_apply, "failed": failed, "converged": converged,
                "tables_wrong": bad, "rows_checked": scenario.data_rows(want), "rows_lost": lost,
                "rows_duplicated": extra}
    finally:
        for name, _ in adapter.list_datasets():
            if name.startswith(p):
                adapter.delete_dataset(name)


@pytest.fixture(scope="module")
def crash_cases(emulator: local.LocalEmulator, staging_src: Path, tmp_path_factory: pytest.TempPathFactory,
                source_sums_cache: dict) -> dict[str, dict]:
    """Every point's case, run WORKERS at a time: point -> figures, or {'error': traceback}."""
    lock = threading.Lock()
    out: dict[str, dict] = {}

    def one(point: str) -> None:
        t0 = time.monotonic()
        try:
            root = tmp_path_factory.mktemp("crash")
            out[point] = run_case(emulator.endpoint, point, root / "project", root, staging_src,
                                  source_sums_cache, lock)
        except BaseException:  # noqa: BLE001 - reported by the point's own test
            out[point] = {"error": traceback.format_exc()}
        out[point]["seconds"] = round(time.monotonic() - t0, 1)

    with cf.ThreadPoolExecutor(max_workers=WORKERS) as pool:
        list(pool.map(one, [p for p, _ in POINTS]))
    return out


@pytest.mark.timeout(900)
@pytest.mark.parametrize("point,where", POINTS, ids=[p for p, _ in POINTS])
def test_one_more_apply_converges_after_kill_9(point: str, where: str, crash_cases: dict, figures) -> None:
    case = crash_cases[point]
    assert "error" not in case, case.get("error")
    figures.append("crashes", {"point": point, "where": where, **case})
    assert not case["failed"], case["failed"]
    assert not case["tables_wrong"], case["tables_wrong"]
    assert case["converged"]
