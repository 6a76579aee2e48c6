"""Concurrency: four `reconcile apply` processes started at once on one project.

All four read the same warehouse and plan the same changes; the project lease
(<ops>.lease, reconcile.executor.lease) must let exactly one apply at a time. Two are
started with `--wait-lease` (they wait for the holder, then run what is left), two
without (they exit with the lease message). The run records (<ops>.run_records: each
action's start and end, per run id) show who ran when: the runs' intervals must not
overlap. The end state must be converged and every table must hold its source's rows.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

import reliability_scenario as scenario
from apply_helpers import assert_converged
from reconcile.local import emulator as local
from reconcile.bq.adapter import Adapter

pytestmark = [pytest.mark.reliability, pytest.mark.integration]

LEASE_MESSAGE = "another apply holds the lease"


@pytest.mark.timeout(300)
def test_four_applies_at_once_one_lease_holder_at_a_time(
        emulator: local.LocalEmulator, adapter: Adapter, ds_prefix: str, project_root: Path,
        staging_src: Path, tmp_path: Path, figures, expected_tables) -> None:
    p = ds_prefix
    desired = scenario.write(project_root, p, staging_src)
    scenario.seed(adapter, p, staging_src, tmp_path)
    want = expected_tables(adapter, p)

    spec = project_root / "desired_state" / "spec.yaml"
    env = {**os.environ, "BIGQUERY_EMULATOR_HOST": emulator.endpoint, "NO_COLOR": "1"}
    flags = {"A": ["--wait-lease", "240"], "B": ["--wait-lease", "240"], "C": [], "D": []}
    procs: dict[str, subprocess.Popen] = {}
    for name, extra in flags.items():
        cmd = [sys.executable, "-m", "reconcile.cli", "apply", "--auto-approve", "--spec", str(spec), "--no-color",
               "--approve-relocation", f"{p}mkt", *extra]
        procs[name] = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                       env=env, cwd=project_root)
    pids = {name: pr.pid for name, pr in procs.items()}
    outputs: dict[str, str] = {}
    try:
        for name, pr in procs.items():
            outputs[name], _ = pr.communicate(timeout=280)
    finally:
        for pr in procs.values():
            if pr.poll() is None:
                local.stop_pid(pr.pid)
    codes = {name: pr.returncode for name, pr in procs.items()}

    # Who ran when: one interval per run id, from the run records.
    rows = adapter.query(f"SELECT run_id, MIN(started_at) AS s, MAX(finished_at) AS f, COUNT(*) AS actions, "
                         f"COUNTIF(status = 'done') AS done FROM {adapter.q(p + 'ops.run_records')} "
                         f"GROUP BY run_id ORDER BY s")
    overlaps = [(a["run_id"], b["run_id"]) for i, a in enumerate(rows) for b in rows[i + 1:]
                if a["s"] < b["f"] and b["s"] < a["f"]]
    runs = []
    for name in flags:
        out = outputs[name]
        run_id = next((ln.split(", run ", 1)[1].split()[0] for ln in out.splitlines()
                       if ln.startswith("Applying ") and ", run " in ln), None)
        if LEASE_MESSAGE in out:
            outcome = "exited: " + next(ln for ln in out.splitlines() if LEASE_MESSAGE in ln).strip()[:200]
        elif "Re-planned after waiting for the lease: 0 change(s) left" in out and "Converged" in out:
            outcome = "waited for the lease, planned again under it: nothing left to do; converged"
        elif "Converged" in out:
            rec = next((r for r in rows if r["run_id"] == run_id), None)
            outcome = (f"held the lease, ran {rec['actions']} action(s) ({rec['done']} done), converged"
                       if rec else "converged")
        else:
            outcome = out.strip().splitlines()[-1][:200] if out.strip() else "(no output)"
        runs.append({"name": name, "pid": pids[name], "flags": " ".join(["apply", *flags[name]]),
                     "exit": codes[name], "run_id": run_id, "outcome": outcome})

    bad, lost, extra = scenario.verify(adapter, p, want)
    converged = True
    try:
        assert_converged(adapter, desired, approvals=scenario.approvals(p))
    except AssertionError:
        converged = False
    refused = sum(1 for r in runs if r["outcome"].startswith("exited"))
    held = len(rows)
    figures.add("concurrency", {
        "processes": len(flags), "waiting": 2, "no_wait": 2, "held": held, "refused": refused,
        "waited_then_replanned": sum(1 for r in runs if r["outcome"].startswith("waited")),
        "overlaps": len(overlaps), "runs": runs, "converged": converged, "tables_wrong": bad,
        "rows_lost": lost, "rows_duplicated": extra,
        "intervals": [{"run_id": r["run_id"], "start": str(r["s"]), "end": str(r["f"])} for r in rows],
    })
    detail = "\n\n".join(f"--- {n} (exit {codes[n]})\n{outputs[n][-3000:]}" for n in flags)
    assert not overlaps, overlaps
    assert held >= 1, detail
    for r in runs:
        if r["outcome"].startswith("exited"):
            assert r["exit"] == 1, detail
        else:
            assert r["exit"] == 0, detail
    assert converged and not bad, (bad, detail)
