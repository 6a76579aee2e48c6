"""The local target: a bqemulator process on 127.0.0.1, started or reused.

State lives under the project's `.local/` folder (DuckDB files, the PID and
port of the running emulator, its log). The PID recorded here is the only
handle used to stop it: nothing is ever stopped by name.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from reconcile.local.processes import HOST, free_port

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


def start(root: Path, project: str, *, port: int = DEFAULT_PORT, persistent: bool = True,
          timeout: float = 60.0) -> LocalEmulator:
    """Reuse a healthy emulator recorded under .local/, or start one and record its PID."""
    sdir = state_dir(root)
    sdir.mkdir(parents=True, exist_ok=True)
    info_file = sdir / "bqemulator.json"
    if info_file.exists():
        try:
            info = json.loads(info_file.read_text())
            if _pid_alive(int(info["pid"])) and healthy(info["endpoint"]):
                return LocalEmulator(info["endpoint"], int(info["pid"]), started=False)
        except (ValueError, KeyError, OSError):
            pass
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
    logf = open(sdir / "bqemulator.log", "ab")  # noqa: SIM115 - handed to the child
    proc = subprocess.Popen(cmd, stdout=logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            start_new_session=True)
    endpoint = f"http://{HOST}:{port}"
    info_file.write_text(json.dumps({"pid": proc.pid, "endpoint": endpoint, "cmd": cmd}))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"local BigQuery exited with code {proc.returncode}; "
                               f"see {sdir / 'bqemulator.log'}")
        if healthy(endpoint, timeout=0.5):
            log.info("local BigQuery started at %s (pid %d)", endpoint, proc.pid)
            return LocalEmulator(endpoint, proc.pid, started=True)
        time.sleep(0.2)
    stop_pid(proc.pid)
    raise RuntimeError(f"local BigQuery did not answer within {timeout:.0f}s; see {sdir / 'bqemulator.log'}")


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
    info_file = state_dir(root) / "bqemulator.json"
    if not info_file.exists():
        return False
    info = json.loads(info_file.read_text())
    stopped = stop_pid(int(info["pid"]))
    info_file.unlink(missing_ok=True)
    return stopped
