"""End to end: the README main command's path, on a local stack of its own.

`reconcile local up` (local BigQuery, Prefect server, work pool, `prefect deploy
--all`, process worker), then `prefect deployment run 'reconcile/reconcile' --watch`
exits 0, then `reconcile plan` exits 0, then `reconcile local down` stops exactly the
recorded processes. Everything the stack writes goes to a temporary
RECONCILE_LOCAL_DIR (its own PREFECT_HOME, emulator data, logs), never to the
project's .local/. The run uses a small spec (one table, one real staging file)
passed as a deployment parameter, so it stays well under three minutes.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from flow_helpers import write_spec

from reconcile.local import processes, stack

pytestmark = [pytest.mark.e2e, pytest.mark.prefect]

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def _env(local_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("BIGQUERY_EMULATOR_HOST", "PREFECT_API_URL", "PREFECT_PROFILE")}
    env.update(RECONCILE_LOCAL_DIR=str(local_dir), PREFECT_HOME=str(local_dir / "prefect"),
               PREFECT_SERVER_ANALYTICS_ENABLED="false", DO_NOT_TRACK="1", NO_COLOR="1")
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env.update(extra)
    return env


def _run(cmd: list[str], env: dict[str, str], timeout: float, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)


@contextmanager
def _listener(port: int) -> Iterator[int]:
    """Another process's listener on `port` (or, if one already listens there, that one)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
            s.listen()
        except OSError:
            pass  # taken already: by someone else's listener, which serves as well
        yield port


def test_local_stack_deployment_run_then_plan(tmp_path: Path, staging_files: Path):
    """With port 4200 taken by another listener, `local up` picks another port, says so,
    and the server's /ui-settings (what the UI in a browser calls) names that port's API."""
    started = time.monotonic()
    local_dir = tmp_path / "local"
    env = _env(local_dir)
    spec = write_spec(tmp_path / "project", "e2e_", staging_files)
    try:
        with _listener(4200) as taken:
            up = _run([str(BIN / "reconcile"), "local", "up", "--port", str(taken)], env, timeout=300)
        assert up.returncode == 0, up.stdout + up.stderr
        state = json.loads((local_dir / "stack.json").read_text())
        assert {"server", "worker", "bigquery"} <= set(state)
        api = state["server"]["api_url"]
        port = state["server"]["port"]
        assert port != taken and api == f"http://127.0.0.1:{port}/api"
        assert f"port {taken} is in use by another process" in up.stdout, up.stdout
        assert f"Prefect UI:      http://127.0.0.1:{port}\n" in up.stdout, up.stdout
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/ui-settings", timeout=10) as r:
            assert json.loads(r.read())["api_url"] == api

        st = _run([str(BIN / "reconcile"), "local", "status"], env, timeout=60)
        assert "drift-detection/hourly  [cron 0 * * * * (inactive)]" in st.stdout, st.stdout
        assert "reconcile/reconcile" in st.stdout and "online" in st.stdout

        run = _run([str(BIN / "prefect"), "deployment", "run", "reconcile/reconcile",
                    "--param", f"spec={json.dumps(str(spec))}", "--watch", "--watch-timeout", "150"],
                   {**env, "PREFECT_API_URL": api}, timeout=200)
        assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
        assert "Completed" in run.stdout

        plan = _run([str(BIN / "reconcile"), "plan", "--spec", str(spec)], env, timeout=120)
        assert plan.returncode == 0, plan.stdout + plan.stderr

        links = _run([sys.executable, "-m", "flows.links", "reconcile/reconcile"],
                     {**env, "PREFECT_API_URL": api}, timeout=60)
        assert links.returncode == 0 and "reconcile-result-cbi-v14" in links.stdout, links.stdout

        again = _run([str(BIN / "reconcile"), "local", "up", "--port", str(port)], env, timeout=120)
        assert again.returncode == 0, again.stdout + again.stderr
        assert "reused" in again.stdout and again.stdout.count("started") == 0, again.stdout
    finally:
        pids = [e["pid"] for e in stack.read_state(stack.Paths(local_dir)).values()
                if isinstance(e, dict) and "pid" in e]
        down = _run([str(BIN / "reconcile"), "local", "down"], env, timeout=120)
    assert down.returncode == 0, down.stdout + down.stderr
    assert not (local_dir / "stack.json").exists()
    assert pids and not any(processes.alive(p) for p in pids)
    # Budget ~3 minutes; measured 108-131 s here (2 cores), with headroom for a loaded CI machine.
    assert time.monotonic() - started < 240
