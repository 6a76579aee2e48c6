"""A run's result for machines, like dbt's run_results.json. Pure: data in, a string out.

    render_run_result(project=..., target=..., run_id=..., dry_run=..., started_at=...,
                      finished_at=..., outcomes=..., exit_code=..., converged=...,
                      reason=..., after=..., not_run=..., job_ids=..., plan_fingerprint=...)

The document is the `RunResult` model of `reconcile.render.schemas` (the same model
docs/schemas/result.schema.json is generated from): one entry per action handled, in
the order given, with its outcome, seconds, observed values and job ids; the actions
of the plan that were not run, each with its reason; per-status counts of the
results; the warehouse after the run. No clock: the caller passes the times.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from reconcile.plan.actions import Action
from reconcile.render.result import Assessment
from reconcile.render.schemas import (
    RUN_RESULT_SCHEMA_VERSION, RUN_STATUSES, AfterRun, NotRunEntry, RunResult, RunResultEntry,
    parse_iso_datetime,
)


def _get(o: Any, name: str, default: Any = None) -> Any:
    if isinstance(o, Mapping):
        return o.get(name, default)
    return getattr(o, name, default)


def _not_run_reason(a: Action) -> str:
    if a.known_gap is not None:
        return f"known gap: {a.known_gap}"
    if a.reports_only:
        return a.skip_reason()
    if a.blocked_by:
        return "blocked by " + ", ".join(a.blocked_by)
    return "not run: it depends on an action that failed or was blocked"


def _not_run_entry(item: Action | Mapping[str, Any]) -> NotRunEntry:
    if isinstance(item, Action):
        return NotRunEntry(key=item.key, kind=item.kind, target=item.target, reason=_not_run_reason(item))
    return NotRunEntry(**{k: item[k] for k in ("key", "kind", "target", "reason")})


def _after(after: Assessment | Mapping[str, Any] | None) -> AfterRun | None:
    if after is None:
        return None
    if isinstance(after, Assessment):
        return AfterRun(in_sync=after.in_sync, drift=len(after.drift), known_gaps=len(after.known_gaps),
                        unmanaged=len(after.unmanaged))
    return AfterRun(**after)


def _seconds(started_at: str, finished_at: str) -> float:
    start, end = parse_iso_datetime(started_at), parse_iso_datetime(finished_at)
    seconds = (end - start).total_seconds()
    if seconds < 0:
        raise ValueError(f"finished_at {finished_at} is before started_at {started_at}")
    return round(seconds, 3)


def build_run_result(*, project: str, target: str, run_id: str, dry_run: bool, started_at: str,
                     finished_at: str, outcomes: Iterable[Any], exit_code: int, converged: bool,
                     reason: str, after: Assessment | Mapping[str, Any] | None,
                     not_run: Iterable[Action | Mapping[str, Any]] = (),
                     job_ids: Mapping[str, Sequence[str]] | None = None,
                     plan_fingerprint: str | None = None) -> RunResult:
    """The run result as its model. `outcomes` are Outcome objects (reconcile.apply.results)
    or dicts with the same keys; `job_ids` maps an action key to the jobs it ran; `not_run`
    are Actions (the reason is derived: known gap, skip reason, blockers) or dicts with
    key, kind, target, reason. `started_at`/`finished_at` are ISO 8601 with a timezone.

    Raises ValueError on what would make the counts disagree: a key twice, a key both
    run and not run, job ids for a key that is not among the results."""
    results = [RunResultEntry(
        key=_get(o, "key"), kind=_get(o, "kind"), target=_get(o, "target"), status=_get(o, "status"),
        detail=_get(o, "detail") or "", seconds=round(float(_get(o, "seconds") or 0.0), 3),
        observed=dict(_get(o, "observed") or {}), job_ids=list((job_ids or {}).get(_get(o, "key"), ())))
        for o in outcomes]
    held = [_not_run_entry(a) for a in not_run]
    keys = [r.key for r in results] + [n.key for n in held]
    twice = sorted({k for k in keys if keys.count(k) > 1})
    if twice:
        raise ValueError(f"action key(s) listed more than once in the run result: {', '.join(twice)}")
    orphans = sorted(set(job_ids or {}) - {r.key for r in results})
    if orphans:
        raise ValueError(f"job ids for action key(s) that are not among the results: {', '.join(orphans)}")
    counts = {s: n for s in RUN_STATUSES if (n := sum(1 for r in results if r.status == s))}
    return RunResult(
        schema_version=RUN_RESULT_SCHEMA_VERSION, kind="run-result", project=project, target=target,
        run_id=run_id, dry_run=dry_run, started_at=started_at, finished_at=finished_at,
        seconds=_seconds(started_at, finished_at), plan_fingerprint=plan_fingerprint,
        exit_code=exit_code, converged=converged, reason=reason, counts=counts, results=results,
        not_run=held, after=_after(after))


def run_result_json(result: RunResult) -> str:
    """The document's text: sorted keys, indent 2; a value JSON cannot hold is its str()."""
    return json.dumps(result.model_dump(mode="json", fallback=str), sort_keys=True, indent=2,
                      ensure_ascii=False) + "\n"


def render_run_result(**kwargs: Any) -> str:
    """The run result document as JSON text (keyword arguments: `build_run_result`)."""
    return run_result_json(build_run_result(**kwargs))
