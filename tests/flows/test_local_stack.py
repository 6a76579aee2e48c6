"""The local stack's processes, through the command line: `local down` stops the local
BigQuery whoever started it, and a `local up` that cannot start says why in one line
and leaves nothing running.

Each test has its own RECONCILE_LOCAL_DIR (emulator data, records, logs, PREFECT_HOME)
and no BIGQUERY_EMULATOR_HOST, so the commands start their own processes as a user's
would; every PID a test learns is checked dead at its end.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from flow_helpers import write_spec
from test_e2e import BIN, _env, _run

from reconcile.local import processes

pytestmark = [pytest.mark.integration]


def test_down_stops_the_emulator_plan_started(tmp_path: Path, staging_files: Path):
    """The quick start without `local up`: `reconcile plan` on the local target starts the
    local BigQuery (as `demo seed` does: both go through `bq.targets.connect`); `local status` shows it and `local down` stops it (it used to be
    orphaned: down found nothing in stack.json and deleted the emulator's record)."""
    local_dir = tmp_path / "local"
    env = _env(local_dir)
    spec = str(write_spec(tmp_path / "project", "quick_", staging_files))
    plan = _run([str(BIN / "reconcile"), "plan", "--spec", spec], env, timeout=120)
    assert plan.returncode == 2, plan.stdout + plan.stderr  # changes pending
    started = re.search(r"local BigQuery started at \S+ \(pid (\d+)\)", plan.stderr)
    assert started, plan.stderr
    pid = int(started.group(1))
    assert processes.alive(pid)

    st = _run([str(BIN / "reconcile"), "local", "status", "--spec", spec], env, timeout=60)
    assert re.search(rf"local BigQuery\s+up\s+\S+ \(pid {pid}\)", st.stdout), st.stdout

    down = _run([str(BIN / "reconcile"), "local", "down", "--spec", spec], env, timeout=60)
    assert down.returncode == 0, down.stdout + down.stderr
    assert f"bigquery   pid {pid}: stopped" in down.stdout, down.stdout
    assert not processes.alive(pid), "local down left the emulator running"
    assert not list(local_dir.glob("*.json")), "no record of a stopped process is kept"


def test_up_that_cannot_start_says_why_and_leaves_nothing_running(tmp_path: Path, staging_files: Path):
    """Another process holds the DuckDB file of the local BigQuery: `local up` exits 1 with
    one line naming that PID, and stops the Prefect server it had already started."""
    local_dir = tmp_path / "local"
    env = _env(local_dir)
    spec = str(write_spec(tmp_path / "project", "lock_", staging_files))
    db = local_dir / "bigquery" / "bqemulator.duckdb"
    db.parent.mkdir(parents=True)
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""\
            import duckdb, sys, time
            con = duckdb.connect({str(db)!r})
            print("locked", flush=True)
            time.sleep(300)
            """)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        up = _run([str(BIN / "reconcile"), "local", "up", "--port", "0", "--spec", spec], env, timeout=180)
    finally:
        holder.kill()
        holder.wait()
    assert up.returncode == 1, up.stdout + up.stderr
    errors = [ln for ln in up.stderr.splitlines() if ln.strip()]
    assert len(errors) == 1 and "Traceback" not in up.stderr, up.stderr
    assert re.match(rf"error: DuckDB state \S+ is locked by pid {holder.pid}: run `make down`", errors[0]), errors
    server = re.search(r"Prefect server\s+starting on \S+ \(pid (\d+)\)", up.stdout)
    assert server, up.stdout
    assert not processes.alive(int(server.group(1))), "the failed up left its Prefect server running"
    state = json.loads((local_dir / "stack.json").read_text()) if (local_dir / "stack.json").exists() else {}
    assert not any(k in state for k in ("server", "worker", "bigquery")), state
    assert not (local_dir / "bqemulator.json").exists()
