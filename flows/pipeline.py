"""The one pipeline every apply-type flow runs, as Prefect tasks over `reconcile/`.

    snapshot -> plan (restricted to a flow's action kinds) -> plan artifact
      -> one task per action (executor.apply on a one-action plan)
      -> snapshot again -> result artifact -> Completed if converged, else Failed

The flows in `reconcile_flow.py` (reconcile and the single-flow runs) and
`transforms_flow.py` differ only in the arguments they pass here. Everything that
decides anything lives in the library: the planner decides what to do, the executor
does it (checking before acting, so a retried task never duplicates work), and
`reconcile.report` decides what "converged" and "drift" mean.

Retries: a task is retried, with backoff, only when its last BigQuery response was a
transient one (429, 5xx, or a dropped connection) after the adapter's own quick
retries gave up. A logic error (a count mismatch, a refused gate, a 400 or 404) is
never retried: running the same thing again would fail the same way.

Concurrency: an apply holds the Prefect global concurrency limit
`reconcile-apply-<project>` (limit 1, created on first use) and the executor's lease
in the ops dataset, so two applies never run on one project at once, whether they
come from Prefect or from the command line. Drift detection takes neither.
"""

from __future__ import annotations

import logging
import re
import time
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any, Iterator, Sequence

from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.runtime import task_run
from prefect.states import Completed, Failed, State
from prefect.utilities.annotations import quote

from reconcile.apply import executor
from reconcile.plan.actions import ACTIONS, Action, Plan, RunTransform
from reconcile.bq.adapter import TRANSIENT, Adapter
from reconcile.bq.targets import connect
from reconcile.plan.planner import plan as make_plan_pure
from reconcile.plan.planner import restrict
from reconcile.render.plan import render_markdown
from reconcile.render.result import Assessment, RunReport, assess, render_result_markdown
from reconcile.snapshot.model import Snapshot
from reconcile.snapshot.read import read_snapshot
from reconcile.spec.sources import read_sources
from reconcile.spec.model import DesiredState, load_spec

DEFAULT_SPEC = "desired_state/cbi-v14.yaml"
RETRIES = 3
RETRY_DELAYS = [2, 10, 30]  # seconds: backoff between attempts of one task
TRANSIENT_STATUS = frozenset({408, 429, 500, 502, 503, 504})
_TRANSIENT_WORDS = ("ConnectionError", "Connection aborted", "Connection refused", "timed out",
                    "ReadTimeout", "RemoteDisconnected")
ACTION_KINDS = frozenset(a.__name__ for a in ACTIONS)

log = logging.getLogger(__name__)


# ---------------------------------------------------------------- errors and retries


class TransientError(RuntimeError):
    """A BigQuery failure worth retrying: the same request may well succeed later."""

    def __init__(self, message: str, outcome: executor.Outcome | None = None, attempts: int = 1):
        super().__init__(message)
        self.outcome = outcome
        self.attempts = attempts


class ActionError(RuntimeError):
    """An action failed for a reason a retry would not change."""

    def __init__(self, message: str, outcome: executor.Outcome, attempts: int = 1):
        super().__init__(message)
        self.outcome = outcome
        self.attempts = attempts


def retry_if_transient(task_: Any, run: Any, state: State) -> bool:
    """Prefect's retry_condition_fn: retry transient BigQuery errors only."""
    try:
        state.result()
    except TransientError:
        return True
    except Exception:  # noqa: BLE001 - anything else is a logic error: no retry
        return False
    return False


class ResponseWatch:
    """Remembers the last error status the adapter's session received.

    The executor reports a failed action as an outcome with a message; whether the
    failure was transient is read here, from BigQuery's last error answer during the
    action (a requests response hook, the mechanism the adapter uses to count
    requests). The last *error*, not the last answer: after a failure the executor
    still writes the run record, and that write succeeds."""

    def __init__(self, adapter: Adapter):
        self.last_error: int | None = None
        http = getattr(adapter.client, "_http", None)
        if http is not None and hasattr(http, "hooks"):
            http.hooks.setdefault("response", []).append(self._hook)

    def _hook(self, response: Any, *args: Any, **kwargs: Any) -> Any:
        status = getattr(response, "status_code", None)
        if status is not None and status >= 400 and status != 404:  # 404: "does it exist?" lookups
            self.last_error = status
        return response

    def reset(self) -> None:
        self.last_error = None

    def transient(self, detail: str = "", exc: BaseException | None = None) -> bool:
        if self.last_error in TRANSIENT_STATUS:
            return True
        if exc is not None and _transient_chain(exc):
            return True
        return any(w in detail for w in _TRANSIENT_WORDS)


def _transient_chain(exc: BaseException | None) -> bool:
    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, TRANSIENT):
            return True
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return False


def _attempt() -> int:
    try:
        return int(task_run.run_count or 1)
    except Exception:  # noqa: BLE001 - outside a task run
        return 1


# ---------------------------------------------------------------- tasks


@task(name="snapshot", retries=RETRIES, retry_delay_seconds=RETRY_DELAYS, retry_jitter_factor=0.2,
      retry_condition_fn=retry_if_transient, cache_policy=NO_CACHE)
def take_snapshot(adapter: Adapter, desired: DesiredState, target: str, watch: ResponseWatch) -> Snapshot:
    """Read the live warehouse: a few INFORMATION_SCHEMA queries, whatever its size."""
    watch.reset()
    try:
        snap = read_snapshot(adapter, desired, target=target)
    except Exception as e:
        if watch.transient(str(e), e):
            raise TransientError(f"snapshot: {e}", attempts=_attempt()) from e
        raise
    get_run_logger().info("read %d datasets, %d tables in %d requests", len(snap.datasets),
                          len(snap.tables), snap.requests)
    return snap


@task(name="plan", cache_policy=NO_CACHE)
def plan_task(desired: DesiredState, snapshot: Snapshot, approvals: Sequence[str],
              allow_destructive: bool, kinds: Sequence[str] | None, only: Sequence[str]) -> Plan:
    """The planner (pure) on the snapshot and the staging files, then the flow's restriction."""
    sources = read_sources(desired)
    p = make_plan_pure(desired, snapshot, sources, approvals=list(approvals),
                       allow_destructive=allow_destructive)
    return restrict_plan(p, kinds, only)


def restrict_plan(p: Plan, kinds: Sequence[str] | None, only: Sequence[str]) -> Plan:
    """A flow's kinds, narrowed further by `only` (action kinds and/or objects)."""
    only_kinds = [o for o in only if o in ACTION_KINDS]
    objects = [o for o in only if o not in ACTION_KINDS]
    allowed: set[str] | None = set(kinds) if kinds else None
    if only_kinds:
        allowed = set(only_kinds) if allowed is None else allowed & set(only_kinds)
    if allowed is None and not objects:
        return p
    if allowed is not None and not allowed:
        return restrict(p, kinds=["__none__"])
    return restrict(p, kinds=sorted(allowed or ()), objects=objects)


@task(name="apply-action", retries=RETRIES, retry_delay_seconds=RETRY_DELAYS, retry_jitter_factor=0.2,
      retry_condition_fn=retry_if_transient, cache_policy=NO_CACHE)
def apply_action(action: Action, desired: DesiredState, adapter: Adapter, run_id: str,
                 watch: ResponseWatch, dry_run: bool = False) -> tuple[executor.Outcome, int]:
    """One action through the executor (a one-action plan). Returns (outcome, attempts).

    Idempotent: every executor function checks the live object before acting, so a
    retry after a transient error finishes the job without duplicates."""
    logger = get_run_logger()
    attempt = _attempt()
    watch.reset()
    result = executor.apply(Plan(project=desired.project, actions=(action,)), desired, adapter,
                            run_id=run_id, dry_run=dry_run, progress=logger.info)
    outcome = result.outcomes[0]
    if outcome.status == "failed":
        if watch.transient(outcome.detail):
            logger.warning("%s: transient failure (HTTP %s), attempt %d/%d: %s", action.key,
                           watch.last_error, attempt, RETRIES + 1, outcome.detail)
            raise TransientError(f"{action.key}: {outcome.detail}", outcome, attempt)
        raise ActionError(f"{action.key}: {outcome.detail}", outcome, attempt)
    logger.info("%s: %s (%s)", action.key, outcome.status, outcome.detail)
    return outcome, attempt


# ---------------------------------------------------------------- concurrency


def concurrency_limit_name(project: str) -> str:
    return "reconcile-apply-" + re.sub(r"[^a-z0-9-]+", "-", project.lower())


class ApplyBusy(RuntimeError):
    pass


@contextmanager
def apply_slot(project: str, wait_seconds: float) -> Iterator[None]:
    """Hold the project's Prefect global concurrency slot (limit 1) for the block.

    Waits at least 5 s: acquiring is a round trip to the server, and a busy server
    (SQLite) can take more than a second to answer, which a shorter wait reads as busy."""
    from prefect.client.orchestration import get_client
    from prefect.concurrency.sync import concurrency

    name = concurrency_limit_name(project)
    with get_client(sync_client=True) as client:
        client.upsert_global_concurrency_limit_by_name(name, limit=1)
    with ExitStack() as stack:
        try:
            stack.enter_context(concurrency(name, occupy=1, timeout_seconds=max(5.0, wait_seconds),
                                            strict=True))
        except TimeoutError:
            raise ApplyBusy(f"another apply on {project} holds the concurrency limit {name} "
                            f"(waited {wait_seconds:.0f}s)") from None
        yield


# ---------------------------------------------------------------- the pipeline


def artifact_key(*parts: str) -> str:
    """Prefect artifact keys: lowercase letters, digits and dashes."""
    return re.sub(r"-+", "-", re.sub(r"[^a-z0-9-]+", "-", "-".join(parts).lower())).strip("-")


@dataclass
class _Run:
    outcomes: list
    attempts: dict[str, int]
    not_run: list


def _hold_apply(held: ExitStack, desired: DesiredState, adapter: Adapter, run_id: str,
                wait_seconds: float) -> bool:
    """Take the project's apply slot and lease into `held`; True if this run had to
    wait for another apply (then its plan must be made again)."""
    t0 = time.monotonic()
    held.enter_context(apply_slot(desired.project, wait_seconds))
    waited = time.monotonic() - t0 > 2.0  # the slot was busy: another flow run applied
    try:
        held.enter_context(executor.lease(adapter, desired, run_id))
    except executor.LeaseHeld:
        if wait_seconds <= 0:
            raise
        held.enter_context(executor.lease(adapter, desired, run_id, wait_seconds=wait_seconds))
        waited = True
    return waited


def run_pipeline(*, flow_key: str, title: str, spec: str, target: str, dry_run: bool = False,
                 allow_destructive: bool = False, approvals: Sequence[str] = (),
                 only: Sequence[str] = (), kinds: Sequence[str] | None = None,
                 wait_seconds: float = 60.0, extra_actions: Sequence[Action] = ()) -> State:
    """Run the pipeline and return the flow's final state (Completed only when converged).

    `kinds` restricts the plan to some action kinds (single-flow runs); `extra_actions`
    are appended to the plan (the scheduled transforms, which run on a clock rather than
    on a difference)."""
    logger = get_run_logger()
    timings: dict[str, float] = {}
    desired = load_spec(spec)
    run_id = executor.new_run_id()
    adapter = connect(desired, target, run_id=run_id)
    watch = ResponseWatch(adapter)
    logger.info("run %s on %s (target %s)%s", run_id, desired.project, target,
                " — dry run" if dry_run else "")

    t0 = time.monotonic()
    before = take_snapshot(quote(adapter), quote(desired), target, quote(watch))
    timings["snapshot"] = time.monotonic() - t0
    t0 = time.monotonic()
    p = plan_task(quote(desired), quote(before), list(approvals), allow_destructive, kinds, list(only))
    extra = tuple(a for a in extra_actions if a.key not in {b.key for b in p.actions})
    if extra:
        p = Plan(project=p.project, actions=p.actions + extra,
                 snapshot_taken_at=p.snapshot_taken_at, notes=p.notes)
    timings["plan"] = time.monotonic() - t0
    create_markdown_artifact(
        markdown=render_markdown(p), key=artifact_key(flow_key, "plan", desired.project),
        description=f"{title}: plan for {desired.project} (target {target}, run {run_id})")

    changes = p.changes
    run = _Run([], {}, [])
    failure: str | None = None
    t0 = time.monotonic()
    if changes and dry_run:
        _apply_all(changes, desired, adapter, run_id, watch, run, dry_run=True)
    elif changes:
        try:
            with ExitStack() as held:
                if _hold_apply(held, desired, adapter, run_id, wait_seconds):
                    # Another apply ran while this one waited and may have done some of
                    # this plan's work: the plan made before waiting is stale, so it is
                    # made again under the lease (as `reconcile apply` does).
                    logger.info("waited for another apply on %s: planning again under the lease",
                                desired.project)
                    before = take_snapshot(quote(adapter), quote(desired), target, quote(watch))
                    p = plan_task(quote(desired), quote(before), list(approvals), allow_destructive,
                                  kinds, list(only))
                    extra = tuple(a for a in extra_actions if a.key not in {b.key for b in p.actions})
                    if extra:
                        p = Plan(project=p.project, actions=p.actions + extra,
                                 snapshot_taken_at=p.snapshot_taken_at, notes=p.notes)
                    changes = p.changes
                if changes:
                    _apply_all(changes, desired, adapter, run_id, watch, run)
        except (ApplyBusy, executor.LeaseHeld) as e:
            failure = str(e)
    timings["apply"] = time.monotonic() - t0
    # What the plan held back (diagnostics, flags, blocked actions): reported, not run.
    held = tuple(a for a in p.actions if a not in changes and a.kind != "Unmanaged")
    if held:
        run.outcomes.extend(executor.apply(Plan(project=p.project, actions=held), desired, adapter,
                                           run_id=run_id, dry_run=True).outcomes)

    if dry_run or not changes or failure:
        after_plan = p
    else:
        t0 = time.monotonic()
        after = take_snapshot(quote(adapter), quote(desired), target, quote(watch))
        after_plan = plan_task(quote(desired), quote(after), list(approvals), allow_destructive, kinds,
                               list(only))
        timings["verify"] = time.monotonic() - t0
    after_assessment = assess(after_plan)
    failed = [o for o in run.outcomes if o.status == "failed"]
    converged = not failure and not failed and after_assessment.in_sync and not dry_run
    reason = _reason(desired.project, dry_run, failure, failed, run, after_assessment, changes)

    create_markdown_artifact(
        markdown=render_result_markdown(RunReport(
            title=title, project=desired.project, target=target, run_id=run_id,
            converged=converged, reason=reason, outcomes=run.outcomes, after=after_assessment,
            dry_run=dry_run, attempts=run.attempts, timings=timings, not_run=run.not_run,
            flow_run_url=_flow_run_url())),
        key=artifact_key(flow_key, "result", desired.project),
        description=f"{title}: result for {desired.project} (run {run_id})")
    logger.info(reason)
    if dry_run or converged:
        return Completed(message=reason)
    return Failed(message=reason)


def _apply_all(changes: Sequence[Action], desired: DesiredState, adapter: Adapter, run_id: str,
               watch: ResponseWatch, run: _Run, *, dry_run: bool = False) -> None:
    """Each change as its own task, in plan order.

    After a failure, a later action that builds on what failed (same table, or the
    dataset a failed dataset action concerns) is not run; independent ones still run,
    as `reconcile apply` does. The dependency rules are the executor's own."""
    bad_tables: dict[str, str] = {}
    bad_datasets: dict[str, str] = {}
    for i, a in enumerate(changes):
        blocker = _depends_on_failure(a, desired, bad_tables, bad_datasets)
        if blocker is not None:
            run.not_run.append(a)
            run.attempts[a.key] = 0
            continue
        named = apply_action.with_options(task_run_name=_task_name(i + 1, a))
        try:
            outcome, attempts = named(quote(a), quote(desired), quote(adapter), run_id, quote(watch),
                                      dry_run)
        except (ActionError, TransientError) as e:
            if e.outcome is None:
                raise
            run.outcomes.append(e.outcome)
            run.attempts[a.key] = e.attempts
            _mark_failed(a, bad_tables, bad_datasets)
            continue
        run.outcomes.append(outcome)
        run.attempts[a.key] = attempts


def _depends_on_failure(a: Action, desired: DesiredState, bad_tables: dict[str, str],
                        bad_datasets: dict[str, str]) -> str | None:
    if not bad_tables and not bad_datasets:
        return None
    refs = getattr(executor, "_refs", None)
    if refs is None:  # the executor no longer exposes its rules: stop everything after a failure
        return next(iter({**bad_tables, **bad_datasets}.values()))
    tables, datasets = refs(a, desired)
    return next((bad_tables[t] for t in sorted(tables) if t in bad_tables), None) or \
        next((bad_datasets[d] for d in sorted(datasets) if d in bad_datasets), None)


def _mark_failed(a: Action, bad_tables: dict[str, str], bad_datasets: dict[str, str]) -> None:
    marks = getattr(executor, "_marks", None)
    tables, datasets = marks(a) if marks is not None else ({a.target}, {a.dataset})
    for t in tables:
        bad_tables.setdefault(t, a.key)
    for d in datasets:
        bad_datasets.setdefault(d, a.key)


def _task_name(i: int, a: Action) -> str:
    return f"{i:03d} {a.kind} {a.target}"[:120]


def _reason(project: str, dry_run: bool, failure: str | None, failed: list, run: _Run,
            after: Assessment, changes: Sequence[Action]) -> str:
    done = sum(1 for o in run.outcomes if o.status in ("done", "noop"))
    if failure:
        return f"not applied: {failure}"
    if dry_run:
        return f"dry run: {len(changes)} change(s) would run on {project}; nothing was changed"
    if failed:
        o = failed[0]
        extra = (f"; {len(run.not_run)} later action(s) that depend on it not run"
                 if run.not_run else "")
        return f"not converged: {o.key} failed: {o.detail}{extra}"
    waiting = f"; {len(after.known_gaps)} known gap(s)" if after.known_gaps else ""
    if not after.in_sync:
        return f"not converged after {done} action(s): {after.summary()}{waiting}"
    if not changes:
        return f"in sync: nothing to apply on {project}{waiting}"
    return f"converged: {done} action(s) applied, no drift left on {project}{waiting}"


def _flow_run_url() -> str | None:
    """The flow run's page in the UI (as the engine logs it: `prefect.runtime`'s
    ui_url points at /flow-runs/..., which the 3.9 UI does not serve)."""
    from prefect.context import FlowRunContext
    from prefect.utilities.urls import url_for

    ctx = FlowRunContext.get()
    try:
        return url_for(ctx.flow_run) if ctx and ctx.flow_run else None
    except Exception:  # noqa: BLE001 - a link is a nicety
        return None


def scheduled_transforms(desired: DesiredState, names: Sequence[str] | None) -> tuple[RunTransform, ...]:
    """RunTransform actions for the spec's scheduled transforms (all of them, or `names`).

    The planner plans a transform when its inputs changed; a scheduled transform runs
    on its clock instead, so its action is built from the spec here."""
    scheduled = {n: t for n, t in desired.transforms.items() if t.schedule}
    wanted = list(names) if names else sorted(scheduled)
    unknown = [n for n in wanted if n not in desired.transforms]
    if unknown:
        raise ValueError(f"transform(s) not in the spec: {', '.join(unknown)} "
                         f"(declared: {', '.join(sorted(desired.transforms)) or 'none'})")
    out = []
    for n in wanted:
        t = desired.transforms[n]
        out.append(RunTransform(name=n, sql_file=t.sql, outputs=tuple(t.outputs),
                                reason=f"scheduled ({t.schedule})" if t.schedule else "run on request"))
    return tuple(out)
