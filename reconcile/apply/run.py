"""One apply run: a plan's actions carried out in its order, each to one Outcome.

`Run` walks the plan. For each action, in this order of precedence:

* report-only (a diagnostic, or a flag that needs a human: `Action.reports_only`):
  'skipped', with `Action.skip_reason()`; never acted on;
* blocked by the plan (`blocked_by`), or depending (`Action.touches`) on a table or
  dataset that an earlier action of this run failed or was blocked on
  (`Action.taints`): 'blocked';
* otherwise its handler (`reconcile.apply.handlers.HANDLERS`) runs it: 'done', 'noop'
  (nothing was left to do) or 'failed'; a dry run describes it instead
  (`reconcile.apply.dryrun.DESCRIBERS`: 'dry-run', no request sent).

An action kind with no handler raises UnknownAction before anything runs. The run's
outcomes are written to `<ops>.run_records` when it finishes (not in a dry run).
`apply()` is the whole walk in one call; the apply session (`reconcile.apply.session`)
drives a Run with a per-action callback, so a Prefect flow can make each action a task.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from typing import Callable

from reconcile import identifiers as ids
from reconcile.apply.context import EXECUTOR_LOG, Context
from reconcile.apply.dryrun import describe
from reconcile.apply.handlers import HANDLERS
from reconcile.apply.records import write_run_records
from reconcile.apply.results import ActionFailed, ApplyResult, Outcome
from reconcile.bq.adapter import Adapter, BigQueryError
from reconcile.plan.actions import Action, Plan, UnknownAction
from reconcile.spec.model import DesiredState

log = logging.getLogger(EXECUTOR_LOG)

# How a caller carries out one action that is to run (the default: Run.execute).
Execute = Callable[["Run", Action], Outcome]
# Told after each change of a plan ran: (its step, the number of changes, it, its outcome).
Finished = Callable[[int, int, Action, Outcome], None]


def _is_change(a: Action) -> bool:
    """A change of the plan (`Plan.changes`): neither report-only nor blocked by the plan."""
    return not a.reports_only and not a.blocked_by


def _known(a: Action) -> None:
    if not a.reports_only and type(a) not in HANDLERS:
        raise UnknownAction(a, "executor")


class Run:
    """One apply run, action by action: what `apply` loops over, and what a Prefect flow
    can wrap one task per action around (`run_action` in plan order, then `finish`).

    It remembers which tables and datasets an action failed or was blocked on, so a
    later action that depends on them is blocked too."""

    def __init__(self, plan: Plan, desired: DesiredState, adapter: Adapter, *, run_id: str,
                 dry_run: bool = False):
        for a in plan.actions:  # fail loudly before anything runs
            _known(a)
        self.plan = plan
        self.desired = desired
        self.adapter = adapter
        self.run_id = run_id
        self.dry_run = dry_run
        self.ctx = Context(plan, desired, adapter, run_id)
        self.bad_tables: dict[str, str] = {}
        self.bad_datasets: dict[str, str] = {}
        self.outcomes: list[Outcome] = []
        self.stamps: list[tuple[dt.datetime, dt.datetime]] = []

    # ------------------------------------------------------------ deciding
    def blocker(self, a: Action) -> str | None:
        """The key of an earlier action of this run that failed or was blocked on
        something `a` touches, if any."""
        tables, datasets = a.touches(self.desired)
        return next((self.bad_tables[t] for t in sorted(tables) if t in self.bad_tables), None) or \
            next((self.bad_datasets[d] for d in sorted(datasets) if d in self.bad_datasets), None)

    def held(self, a: Action) -> tuple[str, str] | None:
        """(status, detail) of an action that is not to run ('skipped' or 'blocked'),
        None for one that is."""
        if a.reports_only:
            return "skipped", a.skip_reason()
        if a.blocked_by:
            return "blocked", "blocked by " + ", ".join(a.blocked_by)
        dependency = self.blocker(a)
        if dependency is not None:
            return "blocked", f"blocked by {dependency}"
        return None

    # ------------------------------------------------------------ doing
    def execute(self, a: Action, *, fresh: bool = False) -> Outcome:
        """Carry out one action that is to run (its handler, or its dry-run description)
        and return its outcome; nothing is recorded in the run. `fresh`: look every
        location up again (a retry: what the failed attempt changed is not known)."""
        _known(a)
        if fresh:
            self.ctx.forget_all()
        t0 = time.monotonic()
        observed: dict = {}
        if self.dry_run:
            status = "dry-run"
            detail, observed = describe(a, self.desired, self.adapter.project)
        else:
            try:
                r = HANDLERS[a](self.ctx, a)
                status, detail, observed = r.status, r.detail, r.observed
            except ActionFailed as e:
                status, detail, observed = "failed", e.detail, e.observed
            except (BigQueryError, ids.IdentifierError, OSError) as e:
                status, detail = "failed", str(e)
            except Exception as e:  # noqa: BLE001 - one action's bug must not hide the rest's outcomes
                log.exception("%s: unexpected error", a.key)
                status, detail = "failed", f"{type(e).__name__}: {e}"
        return _outcome(a, status, detail, observed, time.monotonic() - t0)

    def record(self, a: Action, outcome: Outcome, started: dt.datetime) -> Outcome:
        """Add an action's outcome to the run; a failure or block taints what it leaves unsafe."""
        if outcome.status in ("failed", "blocked"):
            tables, datasets = a.taints()
            for t in tables:
                self.bad_tables.setdefault(t, a.key)
            for d in datasets:
                self.bad_datasets.setdefault(d, a.key)
        self.outcomes.append(outcome)
        self.stamps.append((started, dt.datetime.now(dt.timezone.utc)))
        if outcome.status == "failed":
            log.warning("%s failed: %s", a.key, outcome.detail)
        else:
            log.info("%s: %s (%s)", a.key, outcome.status, outcome.detail)
        return outcome

    def run_action(self, a: Action, execute: Execute | None = None) -> Outcome:
        """Decide, carry out (through `execute`, default `Run.execute`) and record one action."""
        _known(a)
        started = dt.datetime.now(dt.timezone.utc)
        t0 = time.monotonic()
        held = self.held(a)
        if held is not None:
            outcome = _outcome(a, held[0], held[1], {}, time.monotonic() - t0)
        else:
            outcome = (execute or Run.execute)(self, a)
        return self.record(a, outcome, started)

    def run_plan(self, *, progress: Callable[[str], None] | None = None, stop_after: int | None = None,
                 execute: Execute | None = None, finished: Finished | None = None) -> ApplyResult:
        """Every action of the plan in its order (the first `stop_after` only, if given), then
        `finish`. The changes (`Plan.changes`: what is neither report-only nor blocked by the
        plan) are numbered `[i/n]`, n being their count: `progress` gets "[i/n] Kind label"
        before each, `finished(i, n, action, outcome)` after it. What the plan holds back is
        recorded without a step of its own (a report lists it once)."""
        say = progress or (lambda m: log.info(m))
        total = sum(1 for a in self.plan.actions if _is_change(a))
        step = 0
        for i, a in enumerate(self.plan.actions, 1):
            if stop_after is not None and i > stop_after:
                break
            change = _is_change(a)
            if change:
                step += 1
                say(f"[{step}/{total}] {a.kind} {a.label()}")
            outcome = self.run_action(a, execute)
            if change and finished is not None:
                finished(step, total, a, outcome)
        return self.finish()

    def held_back(self) -> tuple[Outcome, ...]:
        """What the plan holds back (report-only and blocked actions), as outcomes, with
        nothing run and nothing recorded: the report of a run that did not take place."""
        out = []
        for a in self.plan.actions:
            if a.reports_only or a.blocked_by:
                status, detail = self.held(a) or ("blocked", "")
                out.append(_outcome(a, status, detail, {}, 0.0))
        return tuple(out)

    def finish(self) -> ApplyResult:
        """The run's result; its outcomes written to <ops>.run_records (not in a dry run)."""
        result = ApplyResult(run_id=self.run_id, outcomes=tuple(self.outcomes),
                             ok=not any(o.status == "failed" for o in self.outcomes))
        if not self.dry_run and self.outcomes:
            write_run_records(self.ctx, result, self.stamps)
        return result


def _outcome(a: Action, status: str, detail: str, observed: dict, seconds: float) -> Outcome:
    return Outcome(key=a.key, kind=a.kind, target=a.target, status=status, detail=detail,
                   observed=observed, seconds=seconds)


def apply(plan: Plan, desired: DesiredState, adapter: Adapter, *, run_id: str, dry_run: bool = False,
          progress: Callable[[str], None] | None = None, stop_after: int | None = None) -> ApplyResult:
    """Carry out `plan` in its order and return one Outcome per action handled.

    Diagnostics are 'skipped', actions the plan blocks (or that depend on one that failed
    or was blocked in this run) are 'blocked'; the others run through their handlers and
    end 'done', 'noop' (nothing was left to do) or 'failed'. `dry_run` describes instead
    ('dry-run') and sends no request. `stop_after=N` returns after the first N actions
    (tests of partial progress). Outcomes are written to <ops>.run_records unless dry_run.
    An action type with no handler raises UnknownAction before anything runs."""
    return Run(plan, desired, adapter, run_id=run_id, dry_run=dry_run).run_plan(
        progress=progress, stop_after=stop_after)
