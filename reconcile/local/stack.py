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
over HTTP: this module, like the rest of the library, does not import Prefect.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from reconcile.local import emulator as local

log = logging.getLogger(__name__)

HOST = local.HOST
DEFAULT_PREFECT_PORT = 4200
WORK_POOL = "local-process"
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


# ---------------------------------------------------------------- processes


def _prefect_exe() -> str:
    exe = Path(sys.executable).with_name("prefect")
    return str(exe) if exe.exists() else "prefect"


def _cmdline(pid: int) -> list[str] | None:
    """The process's argv, or None where /proc is not available."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    return [p for p in raw.decode(errors="replace").split("\0") if p]


def _alive(pid: int) -> bool:
    """True if the PID runs and is not a zombie (a stopped child not yet reaped)."""
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return False
    except ChildProcessError:
        pass
    except OSError:
        return False
    try:
        os.kill(pid, 0)
    except (OSError, ProcessLookupError):
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def is_ours(entry: dict[str, Any] | None) -> bool:
    """The recorded process still runs the recorded command (guards against PID reuse)."""
    if not entry or not entry.get("pid"):
        return False
    pid = int(entry["pid"])
    if not _alive(pid):
        return False
    cmd = entry.get("cmd")
    argv = _cmdline(pid)
    if not cmd or argv is None:
        return True
    # The recorded command runs as [python, script, args...] or [exe, args...]: compare the args.
    tail = [str(c) for c in cmd[1:]]
    return argv[-len(tail):] == tail if tail else True


def stop_process(entry: dict[str, Any], *, grace: float = 10.0) -> str:
    """Stop one recorded process: SIGTERM, a second SIGTERM, then SIGKILL.

    A second SIGTERM because an idle Prefect worker started in the background
    ignores the first (measured, see PREFECT_LOCAL.md). Returns what happened."""
    if not is_ours(entry):
        return "not running"
    pid = int(entry["pid"])
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGTERM, grace / 2), (signal.SIGKILL, 5.0)):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return "stopped"
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if not _alive(pid):
                return "stopped" if sig == signal.SIGTERM else "killed"
            time.sleep(0.1)
    return "still running"


def _spawn(cmd: list[str], env: dict[str, str], logfile: Path, cwd: Path | None = None) -> int:
    logfile.parent.mkdir(parents=True, exist_ok=True)
    with open(logfile, "ab") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env=env, cwd=cwd, start_new_session=True)
    return proc.pid


def _free_port(preferred: int) -> int:
    for port in (preferred, 0):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind((HOST, port))
                return s.getsockname()[1]
            except OSError:
                continue
    raise StackError("no free port on 127.0.0.1")


# ---------------------------------------------------------------- Prefect over HTTP


def _http(method: str, url: str, body: Any = None, timeout: float = 5.0) -> Any:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as r:  # noqa: S310 - loopback only
        text = r.read().decode()
    return json.loads(text) if text else None


def server_healthy(api_url: str, timeout: float = 2.0) -> bool:
    try:
        return _http("GET", f"{api_url}/health", timeout=timeout) is True
    except Exception:  # noqa: BLE001 - any failure means "not healthy"
        return False


def work_pool_exists(api_url: str, name: str = WORK_POOL) -> bool:
    try:
        _http("GET", f"{api_url}/work_pools/{name}")
        return True
    except urllib.error.HTTPError as e:
        if e.code == 404:
            return False
        raise


def workers_online(api_url: str, pool: str = WORK_POOL) -> list[dict[str, Any]]:
    try:
        found = _http("POST", f"{api_url}/work_pools/{pool}/workers/filter", {"limit": 50})
    except Exception:  # noqa: BLE001
        return []
    return [w for w in found or [] if w.get("status") == "ONLINE"]


def deployments(api_url: str) -> list[dict[str, Any]]:
    """Deployed (flow name, deployment name, schedules), read over the REST API."""
    try:
        deps = _http("POST", f"{api_url}/deployments/filter", {"limit": 200})
        flows = {f["id"]: f["name"] for f in _http("POST", f"{api_url}/flows/filter", {"limit": 200})}
    except Exception:  # noqa: BLE001
        return []
    out = []
    for d in deps:
        out.append({
            "name": f"{flows.get(d['flow_id'], '?')}/{d['name']}",
            "work_pool": d.get("work_pool_name"),
            "schedules": [{"schedule": s.get("schedule"), "active": s.get("active")}
                          for s in d.get("schedules") or []],
        })
    return sorted(out, key=lambda d: d["name"])


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
    """The environment of the stack's Prefect processes (and of `prefect` commands run on it)."""
    env = dict(os.environ)
    env.update(QUIET)
    env["PREFECT_HOME"] = str(p.prefect_home)
    env.pop("PREFECT_PROFILE", None)
    if api_url:
        env["PREFECT_API_URL"] = api_url
    else:
        env.pop("PREFECT_API_URL", None)
    env.update(extra)
    return env


# ---------------------------------------------------------------- up / down / status


def _wait(what: str, check: Callable[[], bool], pid: int, timeout: float, logfile: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        if not _alive(pid):
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
    """Start (or reuse) every part of the stack; return the recorded state."""
    say = progress or (lambda m: log.info(m))
    root = Path(root).resolve()
    p = paths(root)
    p.state.mkdir(parents=True, exist_ok=True)
    p.prefect_home.mkdir(parents=True, exist_ok=True)
    state = read_state(p)

    # 1. Prefect server: started first, since it takes longest; the emulator starts meanwhile.
    server = state.get("server")
    server_started_at = None
    if server and is_ours(server) and server_healthy(server["api_url"]):
        say(f"Prefect server   {server['ui_url']} (pid {server['pid']}, reused)")
    else:
        if server and is_ours(server):
            stop_process(server)  # running but not answering: replace it
        sport = _free_port(port)
        cmd = [_prefect_exe(), "server", "start", "--host", HOST, "--port", str(sport)]
        pid = _spawn(cmd, prefect_env(p), p.log("prefect-server"), cwd=p.state)
        server = {"pid": pid, "cmd": cmd, "port": sport, "api_url": f"http://{HOST}:{sport}/api",
                  "ui_url": f"http://{HOST}:{sport}", "home": str(p.prefect_home)}
        state["server"] = server
        _write_state(p, state)
        server_started_at = time.monotonic()

    # 2. local BigQuery (reused when healthy; reconcile.local records its own PID file too)
    em = local.start(root, project)
    state["bigquery"] = {"pid": em.pid, "endpoint": em.endpoint,
                         "cmd": _recorded_emulator_cmd(p)}
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
        pid = _spawn(cmd, wenv, p.log("prefect-worker"), cwd=root)
        worker = {"pid": pid, "cmd": cmd, "pool": WORK_POOL, "bigquery": em.endpoint}
        state["worker"] = worker
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


def _recorded_emulator_cmd(p: Paths) -> list[str] | None:
    try:
        return json.loads((p.state / "bqemulator.json").read_text()).get("cmd")
    except (OSError, ValueError):
        return None


def down(root: Path, progress: Callable[[str], None] | None = None) -> dict[str, str]:
    """Stop exactly the processes recorded in stack.json: worker, server, then BigQuery."""
    say = progress or (lambda m: log.info(m))
    p = paths(Path(root).resolve())
    state = read_state(p)
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
        (p.state / "bqemulator.json").unlink(missing_ok=True)
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
    if bq:
        out["bigquery"] = {"pid": bq.get("pid"), "endpoint": bq.get("endpoint"),
                           "running": is_ours(bq), "healthy": local.healthy(bq.get("endpoint", ""))}
    server = state.get("server")
    if server:
        healthy = is_ours(server) and server_healthy(server["api_url"])
        out["server"] = {"pid": server["pid"], "running": is_ours(server), "healthy": healthy,
                         "api_url": server["api_url"], "ui_url": server["ui_url"],
                         "prefect_home": server.get("home")}
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
