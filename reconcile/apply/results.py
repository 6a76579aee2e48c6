"""What carrying out a plan produces: one Outcome per action, the run's ApplyResult.

Plain data, no I/O. A handler returns `done(...)` or `noop(...)` when it finished and
raises `ActionFailed` when it must not (or could not) go on; the run turns either into
an Outcome. `new_run_id` names a run (it labels every job and every run record).
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass, field
from typing import Any

STATUSES = ("done", "noop", "skipped", "blocked", "failed", "dry-run")


@dataclass(frozen=True)
class Outcome:
    key: str
    kind: str
    target: str
    status: str  # one of STATUSES
    detail: str
    observed: dict = field(default_factory=dict)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "kind": self.kind, "target": self.target, "status": self.status,
                "detail": self.detail, "observed": self.observed, "seconds": round(self.seconds, 3)}


@dataclass(frozen=True)
class ApplyResult:
    run_id: str
    outcomes: tuple[Outcome, ...]
    ok: bool  # no outcome 'failed'

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for o in self.outcomes:
            out[o.status] = out.get(o.status, 0) + 1
        return out

    def by_key(self) -> dict[str, Outcome]:
        return {o.key: o for o in self.outcomes}


class ActionFailed(RuntimeError):
    """A handler found it must not (or could not) finish: the outcome is 'failed' with
    this message and whatever it had observed."""

    def __init__(self, detail: str, observed: dict | None = None):
        super().__init__(detail)
        self.detail = detail
        self.observed = observed or {}


@dataclass(frozen=True)
class Done:
    """What a handler that finished reports: 'done' (it changed something) or 'noop'."""

    status: str  # 'done' | 'noop'
    detail: str
    observed: dict = field(default_factory=dict)


def done(detail: str, **observed: Any) -> Done:
    return Done("done", detail, observed)


def noop(detail: str, **observed: Any) -> Done:
    return Done("noop", detail, observed)


def new_run_id() -> str:
    """A run id that sorts by time and fits a BigQuery label value: 20251119t120000z-1a2b3c4d."""
    now = dt.datetime.now(dt.timezone.utc)
    return f"{now:%Y%m%dt%H%M%Sz}-{secrets.token_hex(4)}"
