"""The local stack's processes: a free loopback port, a detached child with its
log, and a recorded process checked and stopped by its PID.

A process is only ever stopped through the PID recorded when it was started, and
only while that PID still runs the command that was recorded (PIDs are reused):
nothing is ever stopped by name.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

HOST = "127.0.0.1"


def free_port(preferred: int, *, error: type[Exception] = RuntimeError) -> int:
    """`preferred` if it is free on 127.0.0.1, else any free port; raises `error` if none.

    Probed with SO_REUSEADDR, as the servers bind (uvicorn, and Prefect's own port check
    in `prefect server start`): a port whose last connections linger in TIME-WAIT after
    a `make down` counts as free, so the stack keeps its port from one run to the next;
    a port another process listens on is still taken."""
    for port in (preferred, 0):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind((HOST, port))
                return s.getsockname()[1]
            except OSError:
                continue
    raise error("no free port on 127.0.0.1")


def spawn(cmd: list[str], env: dict[str, str], logfile: Path, cwd: Path | None = None) -> int:
    """Start `cmd` in its own session (it outlives this process), output appended to `logfile`."""
    logfile.parent.mkdir(parents=True, exist_ok=True)
    with open(logfile, "ab") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env=env, cwd=cwd, start_new_session=True)
    return proc.pid


def _cmdline(pid: int) -> list[str] | None:
    """The process's argv, or None where /proc is not available."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    return [p for p in raw.decode(errors="replace").split("\0") if p]


def alive(pid: int) -> bool:
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
    if not alive(pid):
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
            if not alive(pid):
                return "stopped" if sig == signal.SIGTERM else "killed"
            time.sleep(0.1)
    return "still running"
