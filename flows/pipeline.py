"""The one pipeline every apply-type flow runs: the apply session, one Prefect task per I/O step.

    snapshot (task) -> plan (task) -> plan artifact
      -> the apply session: concurrency slot + lease, one task per action, snapshot
         and plan again (tasks) -> result artifact -> Completed if converged, else Failed

The flows in `reconcile_flow.py` (reconcile and the single-flow runs) and
`transforms_flow.py` differ only in the arguments they pass here. Everything that
decides anything lives in the library (`reconcile.apply.session`): the planner decides
what to do, the run decides what is blocked and the handlers do it (checking before
acting, so a retried task never duplicates work), and the session's `Applied` says
what "converged" means. This module only makes the session's steps Prefect tasks.

Retries: a task is retried, with backoff, only when its last BigQuery response was a
transient one (429, 5xx, or a dropped connection: `reconcile.apply.watch`) after the
adapter's own quick retries gave up. A logic error (a count mismatch, a refused gate,
a 400 or 404) is never retried: running the same thing again would fail the same way.

Concurrency: an apply holds the Prefect global concurrency limit
`reconcile-apply-<project>` (limit 1, created on first use) and the library's lease
in the ops dataset, so two applies never run on one project at once, whether they
come from Prefect or from the command line. Drift detection takes neither.
"""

from __future__ import annotations

import logging
import re
import time
from contextlib import ExitStack, contextmanager
from typing import Any, Iterator, Sequence

from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.runtime import task_run
from prefect.states import Completed, Failed, State
from prefect.utilities.annotations import quote

from reconcile.apply.lease import Busy
from reconcile.apply.results import Outcome, new_run_id
from reconcile.apply.run import Run
from reconcile.apply.session import Scope, Session, Steps, make_plan
from reconcile.apply.watch import ResponseWatch
from reconcile.bq.targets import connect
from reconcile.plan.actions import Action, Plan, RunTransform
from reconcile.render.plan import render_markdown
from reconcile.render.result import RunReport, render_result_markdown, result_rows
from reconcile.snapshot.model import Snapshot
from reconcile.snapshot.read import read_snapshot
from reconcile.spec.load import flow_spec_path, load_spec
from reconcile.spec.model import DesiredState

DEFAULT_SPEC = "desired_state/cbi-v14.yaml"
RETRIES = 3
RETRY_DELAYS = [2, 10, 30]  # seconds: backoff between attempts of one task

log = logging.getLogger(__name__)


# ---------------------------------------------------------------- errors and retries


class TransientError(RuntimeError):
    """A BigQuery failure worth retrying: the same request may well succeed later."""

    def __init__(self, message: str, outcome: Outcome | None = None, attempts: int = 1):
        super().__init__(message)
        self.outcome = outcome
        self.attempts = attempts


class ActionError(RuntimeError):
    """An action failed for a reason a retry would not change."""

    def __init__(self, message: str, outcome: Outcome, attempts: int = 1):
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


def _attempt() -> int:
    try:
        return int(task_run.run_count or 1)
    except Exception:  # noqa: BLE001 - outside a task run
        return 1


# ---------------------------------------------------------------- tasks


@task(name="snapshot", retries=RETRIES, retry_delay_seconds=RETRY_DELAYS, retry_jitter_factor=0.2,
      retry_condition_fn=retry_if_transient, cache_policy=NO_CACHE)
def take_snapshot(session: Session, watch: ResponseWatch) -> Snapshot:
    """Read the live warehouse: a few INFORMATION_SCHEMA queries, whatever its size."""
    watch.reset()
    try:
        snap = read_snapshot(session.adapter, session.desired, target=session.target)
    except Exception as e:
        if watch.transient(str(e), e):
            raise TransientError(f"snapshot: {e}", attempts=_attempt()) from e
        raise
    get_run_logger().info("read %d datasets, %d tables in %d requests", len(snap.datasets),
                          len(snap.tables), snap.requests)
    return snap


@task(name="plan", cache_policy=NO_CACHE)
def plan_task(desired: DesiredState, snapshot: Snapshot, scope: Scope) -> Plan:
    """The planner (pure) on the snapshot and the staging files, restricted to the flow's scope."""
    return make_plan(desired, snapshot, scope)


@task(name="apply-action", retries=RETRIES, retry_delay_seconds=RETRY_DELAYS, retry_jitter_factor=0.2,
      retry_condition_fn=retry_if_transient, cache_policy=NO_CACHE)
def apply_action(run: Run, action: Action, watch: ResponseWatch) -> tuple[Outcome, int]:
    """One action of the run (its handler, or its dry-run description). Returns (outcome, attempts).

    Idempotent: every handler checks the live object before acting, so a retry after a
    transient error (which looks every location up again) finishes the job without duplicates."""
    logger = get_run_logger()
    attempt = _attempt()
    watch.reset()
    outcome = run.execute(action, fresh=attempt > 1)
    if outcome.status == "failed":
        if watch.transient(outcome.detail):
            logger.warning("%s: transient failure (HTTP %s), attempt %d/%d: %s", action.key,
                           watch.last_error, attempt, RETRIES + 1, outcome.detail)
            raise TransientError(f"{action.key}: {outcome.detail}", outcome, attempt)
        raise ActionError(f"{action.key}: {outcome.detail}", outcome, attempt)
    logger.info("%s: %s (%s)", action.key, outcome.status, outcome.detail)
    return outcome, attempt


class ActionTasks:
    """The session's per-action step: each action that is to run as its own task
    (`001 CreateDataset market_data`, numbered in the plan's changes), in plan order.
    The session decides which run and which are blocked; this only runs and counts."""

    def __init__(self, watch: ResponseWatch):
        self.watch = watch
        self.attempts: dict[str, int] = {}
        self._numbers: tuple[Plan | None, dict[str, int]] = (None, {})

    def __call__(self, run: Run, a: Action) -> Outcome:
        named = apply_action.with_options(task_run_name=_task_name(self._number(run.plan, a), a))
        try:
            # A task future: the session runs independent actions from several threads
            # at once (reconcile.apply.run, --parallelism); each is a task run of its own.
            outcome, attempts = named.submit(quote(run), quote(a), quote(self.watch)).result()
        except (ActionError, TransientError) as e:
            if e.outcome is None:
                raise
            outcome, attempts = e.outcome, e.attempts
        self.attempts[a.key] = attempts
        return outcome

    def _number(self, p: Plan, a: Action) -> int:
        if self._numbers[0] is not p:
            self._numbers = (p, {c.key: i for i, c in enumerate(p.changes, 1)})
        return self._numbers[1].get(a.key, 0)


def _task_name(i: int, a: Action) -> str:
    return f"{i:03d} {a.kind} {a.target}"[:120]


def task_session(desired: DesiredState, adapter: Any, *, run_id: str, target: str, scope: Scope,
                 actions: ActionTasks | None = None) -> Session:
    """The apply session with Prefect tasks for its steps: snapshot, plan, and (with
    `actions`) each action; progress and re-planning go to the flow run's log."""
    logger = get_run_logger()
    watch = actions.watch if actions is not None else ResponseWatch(adapter)
    session = Session(desired, adapter, run_id=run_id, target=target, scope=scope)  # steps below

    def replanned(p: Plan) -> None:
        logger.info("waited for another apply on %s: planned again under the lease (%d change(s))",
                    desired.project, len(p.changes))

    # The snapshot task reads through the session it is a step of.
    session.steps = Steps(
        read=lambda: take_snapshot(quote(session), quote(watch)),
        plan=lambda snapshot, sc, sources: plan_task(quote(desired), quote(snapshot), quote(sc)),
        execute=actions, progress=logger.info, replanned=replanned)
    return session


# ---------------------------------------------------------------- concurrency


def concurrency_limit_name(project: str) -> str:
    return "reconcile-apply-" + re.sub(r"[^a-z0-9-]+", "-", project.lower())


class ApplyBusy(Busy):
    """Another flow run holds the project's Prefect concurrency slot."""


@contextmanager
def apply_slot(project: str, wait_seconds: float) -> Iterator[bool]:
    """Hold the project's Prefect global concurrency slot (limit 1) for the block; its
    value says whether another apply held it and this one waited (more than 2 s).

    Waits at least 5 s: acquiring is a round trip to the server, and a busy server
    (SQLite) can take more than a second to answer, which a shorter wait reads as busy."""
    from prefect.client.orchestration import get_client
    from prefect.concurrency.sync import concurrency

    t0 = time.monotonic()
    name = concurrency_limit_name(project)
    with get_client(sync_client=True) as client:
        client.upsert_global_concurrency_limit_by_name(name, limit=1)
    with ExitStack() as stack:
        try:
            stack.enter_context(concurrency(name, occupy=1, timeout_seconds=max(5.0, wait_seconds),
                                            strict=True))
        except TimeoutError:
            raise ApplyBusy(f"another apply on {project} holds the concurrency limit {name} "
                            f"(waited {time.monotonic() - t0:.0f}s)") from None
        yield time.monotonic() - t0 > 2.0  # the slot was busy: another flow run applied


# ---------------------------------------------------------------- the pipeline


def artifact_key(*parts: str) -> str:
    """Prefect artifact keys: lowercase letters, digits and dashes."""
    return re.sub(r"-+", "-", re.sub(r"[^a-z0-9-]+", "-", "-".join(parts).lower())).strip("-")


def run_pipeline(*, flow_key: str, title: str, spec: str, target: str, dry_run: bool = False,
                 allow_destructive: bool | Sequence[str] = False, approvals: Sequence[str] = (),
                 only: Sequence[str] = (), kinds: Sequence[str] | None = None,
                 wait_seconds: float = 60.0, extra_actions: Sequence[Action] = (),
                 approval_timeout: int = 0) -> State:
    """Run the pipeline and return the flow's final state (Completed only when converged).

    `kinds` restricts the plan to some action kinds (single-flow runs); `extra_actions`
    are appended to the plan (the scheduled transforms, which run on a clock rather than
    on a difference). With `approval_timeout` (seconds), a plan holding changes the
    parameters do not approve pauses the run for a person (`flows.approval`)."""
    logger = get_run_logger()
    desired = load_spec(flow_spec_path(spec))  # a parameter: only a spec in desired_state/ (issue 18)
    run_id = new_run_id()
    adapter = connect(desired, target, run_id=run_id)
    logger.info("run %s on %s (target %s)%s", run_id, desired.project, target,
                " — dry run" if dry_run else "")
    scope = Scope(approvals=tuple(approvals),
                  allow_destructive=allow_destructive if isinstance(allow_destructive, bool) else tuple(allow_destructive),
                  kinds=tuple(kinds) if kinds else None, only=tuple(only), extra=tuple(extra_actions))
    actions = ActionTasks(ResponseWatch(adapter))
    session = task_session(desired, adapter, run_id=run_id, target=target, scope=scope, actions=actions)

    p = session.plan()
    create_markdown_artifact(
        markdown=render_markdown(p, for_ui=True), key=artifact_key(flow_key, "plan", desired.project),
        description=f"{title}: plan for {desired.project} (target {target}, run {run_id})")

    if approval_timeout and not dry_run:  # approval in the UI (flows/approval.py)
        from flows.approval import NOT_APPROVED, gate

        decision = gate(session, p, artifact_key=artifact_key(flow_key, "approval", desired.project),
                        timeout=approval_timeout)
        if decision is not None and decision.refusal:
            logger.warning(decision.refusal)
            return Failed(name=NOT_APPROVED, message=decision.refusal)
        if decision is not None and decision.plan is not None:
            p = decision.plan

    applied = session.apply(p, dry_run=dry_run, wait_seconds=wait_seconds,
                            hold=lambda: apply_slot(desired.project, wait_seconds))

    reason = applied.reason
    outside = session.outside_scope() if kinds or only else None
    if outside is not None and outside.drift:
        # A single-flow run answers for its kinds; it still says the project is not in sync.
        reason += (f"; outside this run's scope: {outside.summary()} "
                   "(run reconcile/reconcile, or drift-detection to see it)")
    report = RunReport(
        title=title, project=desired.project, target=target, run_id=run_id,
        converged=applied.converged, reason=reason, outcomes=applied.reported(),
        after=applied.assessment, dry_run=dry_run, attempts=actions.attempts,
        timings=applied.timings, not_run=applied.not_run, flow_run_url=_flow_run_url())
    create_markdown_artifact(
        markdown=render_result_markdown(report),
        key=artifact_key(flow_key, "result", desired.project),
        description=f"{title}: result for {desired.project} (run {run_id})")
    rows = result_rows(report)
    if rows:  # the same outcomes, one column per field: sortable and scrollable in the UI
        create_table_artifact(table=rows, key=artifact_key(flow_key, "outcomes", desired.project),
                              description=f"{title}: outcomes on {desired.project} (run {run_id})")
    logger.info(reason)
    if dry_run or applied.converged:
        return Completed(message=reason)
    return Failed(message=reason)


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
