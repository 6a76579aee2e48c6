"""The local target: a bqemulator process on 127.0.0.1, started or reused.

State lives under the project's `.local/` folder (DuckDB files, the PID and
port of the running emulator, its log). The PID recorded here is the only
handle used to stop it: nothing is ever stopped by name.
"""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from reconcile.local.processes import HOST, free_port, is_ours

log = logging.getLogger(__name__)

DEFAULT_PORT = 9050


@dataclass(frozen=True)
class LocalEmulator:
    endpoint: str
    pid: int | None
    started: bool  # True if this call started it


def state_dir(root: Path) -> Path:
    return Path(os.environ.get("RECONCILE_LOCAL_DIR", root / ".local"))


def healthy(endpoint: str, timeout: float = 1.0) -> bool:
    try:
        with urllib.request.urlopen(f"{endpoint}/healthz", timeout=timeout) as r:  # noqa: S310 - loopback
            return r.status == 200
    except Exception:  # noqa: BLE001
        return False


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except (OSError, ProcessLookupError):
        return False


def ensure_extensions() -> None:
    """Copy DuckDB's spatial extension from its PyPI package so nothing downloads."""
    try:
        from duckdb_extensions import import_extension

        import_extension("spatial")
    except Exception as e:  # noqa: BLE001 - the emulator reports the real error if it matters
        log.debug("could not pre-install duckdb spatial extension: %s", e)


INFO_FILE = "bqemulator.json"
# DuckDB's message when another process holds the database file, e.g.
# `Conflicting lock is held in /usr/bin/python3.11 (PID 5396)`.
_LOCK_HOLDER = re.compile(r"Conflicting lock is held in .*?\(PID (\d+)\)")


def recorded(root: Path) -> dict | None:
    """The emulator recorded under the local folder (pid, endpoint, cmd), whoever started
    it (`local up`, or `reconcile plan` on the local target), or None."""
    try:
        info = json.loads((state_dir(root) / INFO_FILE).read_text())
        return info if isinstance(info, dict) and info.get("pid") else None
    except (OSError, ValueError):
        return None


def start(root: Path, project: str, *, port: int = DEFAULT_PORT, persistent: bool = True,
          timeout: float = 60.0) -> LocalEmulator:
    """Reuse the emulator recorded under .local/, or start one and record its PID.

    A recorded emulator that still runs is never replaced (a second one on the same
    DuckDB files could not start: DuckDB locks them): it is reused once it answers.
    A start that fails raises one line saying why (a DuckDB lock names its holder)."""
    sdir = state_dir(root)
    sdir.mkdir(parents=True, exist_ok=True)
    info_file = sdir / INFO_FILE
    info = recorded(root)
    if info is not None:
        try:
            pid, endpoint = int(info["pid"]), str(info["endpoint"])
        except (KeyError, TypeError, ValueError):
            pid, endpoint = 0, ""
        if pid and is_ours(info):
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and is_ours(info):
                if healthy(endpoint):
                    return LocalEmulator(endpoint, pid, started=False)
                time.sleep(0.2)
            if is_ours(info):
                raise RuntimeError(f"local BigQuery pid {pid} ({endpoint}) runs but does not answer: "
                                   "run `make down` (or `reconcile local down`)")
    ensure_extensions()
    port = free_port(port)
    data_dir = sdir / "bigquery"
    data_dir.mkdir(parents=True, exist_ok=True)
    exe = Path(sys.executable).with_name("bqemulator")
    cmd = [str(exe) if exe.exists() else "bqemulator", "start", "--rest-host", HOST,
           "--rest-port", str(port), "--grpc-host", HOST, "--grpc-port", str(free_port(port + 10)),
           "--project", project, "--log-level", "warning"]
    if persistent:
        cmd += ["--persistent", "--data-dir", str(data_dir)]
    log_path = sdir / "bqemulator.log"
    logf = open(log_path, "ab")  # noqa: SIM115 - handed to the child
    log_from = logf.tell()
    proc = subprocess.Popen(cmd, stdout=logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            start_new_session=True)
    logf.close()
    endpoint = f"http://{HOST}:{port}"
    info_file.write_text(json.dumps({"pid": proc.pid, "endpoint": endpoint, "cmd": cmd}))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            info_file.unlink(missing_ok=True)
            raise RuntimeError(_why_it_exited(proc.returncode, log_path, log_from, data_dir))
        if healthy(endpoint, timeout=0.5):
            log.info("local BigQuery started at %s (pid %d)", endpoint, proc.pid)
            return LocalEmulator(endpoint, proc.pid, started=True)
        time.sleep(0.2)
    stop_pid(proc.pid)
    info_file.unlink(missing_ok=True)
    raise RuntimeError(f"local BigQuery did not answer within {timeout:.0f}s; see {log_path}")


def _why_it_exited(code: int | None, log_path: Path, log_from: int, data_dir: Path) -> str:
    """One line: the cause found in what this process wrote to the log, and where the log is."""
    try:
        with open(log_path, "rb") as f:
            f.seek(log_from)
            text = f.read().decode(errors="replace")
    except OSError:
        text = ""
    m = _LOCK_HOLDER.search(text)
    if m:
        return (f"DuckDB state {data_dir} is locked by pid {m.group(1)}: run `make down` "
                f"(or `reconcile local down`); see {log_path}")
    last = next((ln.strip() for ln in reversed(text.splitlines()) if ln.strip()), "")
    cause = f": {last[:200]}" if last else ""
    return f"local BigQuery exited with code {code}{cause}; see {log_path}"


def stop_pid(pid: int, timeout: float = 10.0) -> bool:
    """Stop one process by its recorded PID: SIGTERM, then SIGKILL after a timeout."""
    if not _pid_alive(pid):
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
            if done == pid:
                return True
        except ChildProcessError:
            if not _pid_alive(pid):
                return True
        time.sleep(0.1)
    os.kill(pid, signal.SIGKILL)
    return True


def stop(root: Path) -> bool:
    """Stop the recorded emulator (only while its PID runs the recorded command)."""
    info = recorded(root)
    if info is None:
        return False
    stopped = is_ours(info) and stop_pid(int(info["pid"]))
    (state_dir(root) / INFO_FILE).unlink(missing_ok=True)
    return stopped
