"""The local stack: BigQuery emulator, Prefect server, deployments and a worker.

`up` starts, bound to 127.0.0.1, what is not already running and healthy: the
local BigQuery (`reconcile.local.start`), a Prefect server with its own
PREFECT_HOME under the project's local folder (analytics off), the `local-process`
work pool, the deployments of `prefect.yaml`, and a process worker whose
environment points BIGQUERY_EMULATOR_HOST at the local BigQuery. Every process it
starts is recorded in `<local dir>/stack.json`; `down` stops exactly those PIDs
(SIGTERM, a second SIGTERM, then SIGKILL) after checking each PID still runs the
command that was recorded, and `status` reports what runs and where.

Prefect is driven through its command line and its REST API, in subprocesses and
over HTTP (`prefect_api`): this module, like the rest of the library, does not
import Prefect. Starting, checking and stopping recorded processes is `processes`.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from reconcile.local import emulator as local
from reconcile.local.prefect_api import (
    WORK_POOL, deployments, server_healthy, ui_settings, work_pool_exists, workers_online,
)
from reconcile.local.processes import HOST, alive, free_port, is_ours, spawn, stop_process

log = logging.getLogger(__name__)

DEFAULT_PREFECT_PORT = 4200
WORKER_NAME = "reconcile-local"
STACK_FILE = "stack.json"
SERVER_START_TIMEOUT = 180.0  # ~23 s on a fresh database here; slow disks need more
WORKER_START_TIMEOUT = 60.0

# Settings every Prefect process of the stack gets: no telemetry, nothing leaves the machine.
QUIET = {"PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "1"}


class StackError(RuntimeError):
    """The stack could not be started; the message says which part and where its log is."""


@dataclass(frozen=True)
class Paths:
    state: Path  # the local folder (.local/ or RECONCILE_LOCAL_DIR)

    @property
    def stack_file(self) -> Path:
        return self.state / STACK_FILE

    @property
    def prefect_home(self) -> Path:
        return self.state / "prefect"

    def log(self, name: str) -> Path:
        return self.state / f"{name}.log"


def paths(root: Path) -> Paths:
    return Paths(local.state_dir(Path(root)))


def _prefect_exe() -> str:
    exe = Path(sys.executable).with_name("prefect")
    return str(exe) if exe.exists() else "prefect"


# ---------------------------------------------------------------- state file


def read_state(p: Paths) -> dict[str, Any]:
    try:
        return json.loads(p.stack_file.read_text())
    except (OSError, ValueError):
        return {}


def _write_state(p: Paths, state: dict[str, Any]) -> None:
    p.state.mkdir(parents=True, exist_ok=True)
    tmp = p.stack_file.with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=2) + "\n")
    os.replace(tmp, p.stack_file)


def prefect_env(p: Paths, api_url: str | None = None, **extra: str) -> dict[str, str]:
    """The environment of the stack's Prefect processes (and of `prefect` commands run on it).

    With `api_url`, PREFECT_UI_URL follows it, so links a run logs point at this server."""
    env = dict(os.environ)
    env.update(QUIET)
    env["PREFECT_HOME"] = str(p.prefect_home)
    env.pop("PREFECT_PROFILE", None)
    for k in ("PREFECT_UI_URL", "PREFECT_UI_API_URL", "PREFECT_SERVER_UI_API_URL"):
        env.pop(k, None)
    if api_url:
        env["PREFECT_API_URL"] = api_url
        env["PREFECT_UI_URL"] = api_url.removesuffix("/api")
    else:
        env.pop("PREFECT_API_URL", None)
    env.update(extra)
    return env


def server_env(p: Paths, port: int) -> dict[str, str]:
    """The server's environment: the UI in the browser is told the API of the port the
    server actually uses (PREFECT_UI_API_URL; Prefect's default is built from
    PREFECT_SERVER_API_PORT, 4200, whatever `--port` says), and the server's own
    settings name that host and port."""
    api = f"http://{HOST}:{port}/api"
    return prefect_env(p, None, PREFECT_SERVER_API_HOST=HOST, PREFECT_SERVER_API_PORT=str(port),
                       PREFECT_UI_API_URL=api, PREFECT_UI_URL=f"http://{HOST}:{port}")


def ui_points_at_server(server: dict[str, Any]) -> bool:
    """The server's `/ui-settings` names its own API (else the UI cannot reach it)."""
    found = ui_settings(server["ui_url"])
    return bool(found) and found.get("api_url") == server["api_url"]


# ---------------------------------------------------------------- up / down / status


def _wait(what: str, check: Callable[[], bool], pid: int, timeout: float, logfile: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        if not alive(pid):
            raise StackError(f"{what} exited before it was ready; see {logfile}")
        time.sleep(0.25)
    raise StackError(f"{what} not ready after {timeout:.0f}s; see {logfile}")


def _run_prefect(args: list[str], env: dict[str, str], cwd: Path, logfile: Path, what: str) -> None:
    cmd = [_prefect_exe(), *args]
    with open(logfile, "ab") as out:
        out.write(f"\n$ {' '.join(cmd)}\n".encode())
        out.flush()
        rc = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            env=env, cwd=cwd, timeout=300).returncode
    if rc != 0:
        raise StackError(f"{what} failed (exit {rc}); see {logfile}")


def up(root: Path, project: str, *, port: int = DEFAULT_PREFECT_PORT, deploy: bool = True,
       progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Start (or reuse) every part of the stack; return the recorded state.

    A start that fails stops what this call started (nothing is left half up) and
    raises StackError with one line saying why."""
    root = Path(root).resolve()
    p = paths(root)
    p.state.mkdir(parents=True, exist_ok=True)
    p.prefect_home.mkdir(parents=True, exist_ok=True)
    started: list[str] = []
    try:
        return _up(root, p, project, port, deploy, progress, started)
    except Exception as e:
        state = read_state(p)
        for part in reversed(started):
            entry = state.get(part)
            if entry and stop_process(entry) != "still running":
                state.pop(part, None)
                if part == "bigquery":
                    (p.state / local.INFO_FILE).unlink(missing_ok=True)
        if any(k in state for k in ("worker", "server", "bigquery")):
            _write_state(p, state)
        else:
            p.stack_file.unlink(missing_ok=True)
        if isinstance(e, StackError):
            raise
        if isinstance(e, (RuntimeError, OSError)):
            raise StackError(str(e).splitlines()[0] if str(e) else type(e).__name__) from e
        raise


def _up(root: Path, p: Paths, project: str, port: int, deploy: bool,
        progress: Callable[[str], None] | None, started: list[str]) -> dict[str, Any]:
    say = progress or (lambda m: log.info(m))
    state = read_state(p)

    # 1. Prefect server: started first, since it takes longest; the emulator starts meanwhile.
    server = state.get("server")
    server_started_at = None
    if (server and is_ours(server) and server_healthy(server["api_url"])
            and ui_points_at_server(server)):
        say(f"Prefect server   {server['ui_url']} (pid {server['pid']}, reused)")
    else:
        if server and is_ours(server):
            # running but not answering, or its UI calls another port: replace it
            stop_process(server)
        sport = free_port(port, error=StackError)
        if port and sport != port:
            say(f"port {port} is in use by another process: the Prefect server takes port {sport}")
        cmd = [_prefect_exe(), "server", "start", "--host", HOST, "--port", str(sport)]
        pid = spawn(cmd, server_env(p, sport), p.log("prefect-server"), cwd=p.state)
        server = {"pid": pid, "cmd": cmd, "port": sport, "api_url": f"http://{HOST}:{sport}/api",
                  "ui_url": f"http://{HOST}:{sport}", "home": str(p.prefect_home)}
        state["server"] = server
        started.append("server")
        _write_state(p, state)
        server_started_at = time.monotonic()
        say(f"Prefect server   starting on {server['ui_url']} (pid {pid})")

    # 2. local BigQuery (reused when healthy; reconcile.local records its own PID file too)
    em = local.start(root, project)
    state["bigquery"] = {"pid": em.pid, "endpoint": em.endpoint,
                         "cmd": _recorded_emulator_cmd(p)}
    if em.started:
        started.append("bigquery")
    _write_state(p, state)
    say(f"local BigQuery   {em.endpoint} (pid {em.pid}, {'started' if em.started else 'reused'})")

    if server_started_at is not None:
        _wait("Prefect server", lambda: server_healthy(server["api_url"]), server["pid"],
              SERVER_START_TIMEOUT, p.log("prefect-server"))
        say(f"Prefect server   {server['ui_url']} (pid {server['pid']}, started in "
            f"{time.monotonic() - server_started_at:.0f}s)")
    api = server["api_url"]
    env = prefect_env(p, api)

    # 3. work pool, then the deployments of prefect.yaml (idempotent: re-run on every `up`)
    if not work_pool_exists(api):
        _run_prefect(["work-pool", "create", WORK_POOL, "--type", "process"], env, root,
                     p.log("prefect-cli"), f"creating work pool {WORK_POOL}")
        say(f"work pool        {WORK_POOL} (process) created")
    if deploy:
        if (root / "prefect.yaml").exists():
            _run_prefect(["--no-prompt", "deploy", "--all"], env, root, p.log("prefect-cli"),
                         "prefect deploy --all")
            deps = deployments(api)
            say(f"deployments      {len(deps)} from prefect.yaml: "
                + ", ".join(d["name"] for d in deps))
        else:
            say(f"deployments      none: no prefect.yaml in {root}")
        say(_apply_alerts(root, env, p))

    # 4. the worker; restarted if the emulator it points at has changed
    worker = state.get("worker")
    if worker and is_ours(worker) and worker.get("bigquery") == em.endpoint:
        say(f"worker           pid {worker['pid']} on {WORK_POOL} (reused)")
    else:
        if worker and is_ours(worker):
            stop_process(worker)
        cmd = [_prefect_exe(), "worker", "start", "--pool", WORK_POOL, "--type", "process",
               "--name", WORKER_NAME]
        wenv = prefect_env(p, api, PREFECT_WORKER_QUERY_SECONDS="2",
                           BIGQUERY_EMULATOR_HOST=em.endpoint,
                           PREFECT_LOGGING_EXTRA_LOGGERS="reconcile",
                           RECONCILE_LOCAL_DIR=str(p.state))
        pid = spawn(cmd, wenv, p.log("prefect-worker"), cwd=root)
        worker = {"pid": pid, "cmd": cmd, "pool": WORK_POOL, "bigquery": em.endpoint}
        state["worker"] = worker
        started.append("worker")
        _write_state(p, state)
        t0 = time.monotonic()
        _wait("Prefect worker", lambda: any(w.get("name") == WORKER_NAME for w in workers_online(api)),
              pid, WORKER_START_TIMEOUT, p.log("prefect-worker"))
        say(f"worker           pid {pid} on {WORK_POOL} (started in {time.monotonic() - t0:.0f}s)")
    state["root"] = str(root)
    _write_state(p, state)
    say(f"Prefect UI:      {server['ui_url']}")
    say(f"export PREFECT_API_URL={api}")
    return state


def _apply_alerts(root: Path, env: dict[str, str], p: Paths) -> str:
    """Apply the shipped drift alert (flows/drift_alert.yaml) through `python -m flows.alerts`
    (a subprocess: the library does not import Prefect). Its one line says what it did;
    an alert that cannot be applied (no notification block yet) does not stop the stack."""
    if not (root / "flows" / "alerts.py").exists():
        return f"automations     none: no flows/alerts.py in {root}"
    cmd = [sys.executable, "-m", "flows.alerts"]
    done = subprocess.run(cmd, env=env, cwd=root, capture_output=True, text=True, timeout=120,
                          stdin=subprocess.DEVNULL)
    with open(p.log("prefect-cli"), "a") as out:
        out.write(f"\n$ {' '.join(cmd)}\n{done.stdout}{done.stderr}")
    lines = done.stdout.strip().splitlines()
    if lines:
        return lines[-1]
    return f"automations     not applied (exit {done.returncode}); see {p.log('prefect-cli')}"


def _recorded_emulator_cmd(p: Paths) -> list[str] | None:
    try:
        return json.loads((p.state / local.INFO_FILE).read_text()).get("cmd")
    except (OSError, ValueError):
        return None


def down(root: Path, progress: Callable[[str], None] | None = None) -> dict[str, str]:
    """Stop exactly the processes the tool recorded: worker, server, then BigQuery.

    The local BigQuery is stopped whoever started it: `local up` records it in
    stack.json, and `reconcile plan` / `demo seed` on the local target in its own
    record (bqemulator.json), which `down` reads too."""
    say = progress or (lambda m: log.info(m))
    root = Path(root).resolve()
    p = paths(root)
    state = read_state(p)
    em = local.recorded(root)
    if em is not None and (not state.get("bigquery") or not is_ours(state["bigquery"])):
        state["bigquery"] = {"pid": em.get("pid"), "endpoint": em.get("endpoint"), "cmd": em.get("cmd")}
    result: dict[str, str] = {}
    for part in ("worker", "server", "bigquery"):
        entry = state.get(part)
        if not entry:
            continue
        outcome = stop_process(entry)
        result[part] = outcome
        say(f"{part:<10} pid {entry.get('pid')}: {outcome}")
        if outcome != "still running":
            state.pop(part)
    if "bigquery" not in state:
        (p.state / local.INFO_FILE).unlink(missing_ok=True)
    if any(k in state for k in ("worker", "server", "bigquery")):
        _write_state(p, state)
    else:
        p.stack_file.unlink(missing_ok=True)
    if not result:
        say("nothing recorded in " + str(p.stack_file))
    return result


def status(root: Path) -> dict[str, Any]:
    """What runs, where, and whether it answers. Reads only; starts nothing."""
    p = paths(Path(root).resolve())
    state = read_state(p)
    out: dict[str, Any] = {"state_file": str(p.stack_file)}
    bq = state.get("bigquery")
    if not (bq and is_ours(bq)):
        bq = local.recorded(Path(root).resolve()) or bq  # started by `reconcile plan`, say
    if bq:
        out["bigquery"] = {"pid": bq.get("pid"), "endpoint": bq.get("endpoint"),
                           "running": is_ours(bq), "healthy": local.healthy(bq.get("endpoint", ""))}
    server = state.get("server")
    if server:
        healthy = is_ours(server) and server_healthy(server["api_url"])
        out["server"] = {"pid": server["pid"], "running": is_ours(server), "healthy": healthy,
                         "api_url": server["api_url"], "ui_url": server["ui_url"],
                         "prefect_home": server.get("home"),
                         "ui_api_url": (ui_settings(server["ui_url"]) or {}).get("api_url")
                         if healthy else None}
        if healthy:
            out["deployments"] = deployments(server["api_url"])
            out["workers_online"] = [w.get("name") for w in workers_online(server["api_url"])]
    worker = state.get("worker")
    if worker:
        out["worker"] = {"pid": worker["pid"], "running": is_ours(worker), "pool": worker.get("pool"),
                         "bigquery": worker.get("bigquery")}
    return out


def api_url(root: Path) -> str | None:
    """The API URL of a healthy recorded server, else None."""
    server = read_state(paths(Path(root).resolve())).get("server")
    if server and is_ours(server) and server_healthy(server["api_url"]):
        return server["api_url"]
    return None


def format_status(st: dict[str, Any]) -> str:
    lines = []

    def mark(ok: bool) -> str:
        return "up" if ok else "DOWN"

    bq = st.get("bigquery")
    lines.append(f"local BigQuery   {mark(bool(bq and bq['healthy']))}"
                 + (f"  {bq['endpoint']} (pid {bq['pid']})" if bq else "  not started"))
    sv = st.get("server")
    lines.append(f"Prefect server   {mark(bool(sv and sv['healthy']))}"
                 + (f"  {sv['ui_url']} (pid {sv['pid']}, API {sv['api_url']})" if sv else "  not started"))
    wk = st.get("worker")
    online = st.get("workers_online", [])
    lines.append(f"worker           {mark(bool(wk and wk['running']))}"
                 + (f"  pid {wk['pid']} on {wk['pool']}, "
                    f"{'online' if WORKER_NAME in online else 'not seen by the server'}" if wk
                    else "  not started"))
    for d in st.get("deployments", []):
        sched = ", ".join(
            f"{_schedule_text(s['schedule'])} ({'active' if s['active'] else 'inactive'})"
            for s in d["schedules"]) or "no schedule"
        lines.append(f"  deployment     {d['name']}  [{sched}]")
    if sv:
        lines.append(f"Prefect UI: {sv['ui_url']}    export PREFECT_API_URL={sv['api_url']}")
        if sv.get("ui_api_url") and sv["ui_api_url"] != sv["api_url"]:
            lines.append(f"  warning: the UI calls {sv['ui_api_url']}, not this server: run "
                         "`reconcile local down` then `reconcile local up`")
    return "\n".join(lines)


def _schedule_text(s: dict[str, Any] | None) -> str:
    if not s:
        return "?"
    if "cron" in s:
        return f"cron {s['cron']}"
    if "interval" in s:
        return f"every {s['interval']:g}s"
    if "rrule" in s:
        return f"rrule {s['rrule']}"
    return json.dumps(s)
