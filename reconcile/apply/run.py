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

With `parallelism` above 1 (the CLI's `--parallelism N`, default 10 like Terraform's),
actions whose inputs are ready run concurrently, at most N at once, under the run's one
lease. What must come first is read from the plan, whose order the object graph made
(reconcile.plan.dependencies): an action waits for every earlier action it shares a
table or view with (`touches`, `taints`, the graph's `inputs`), for every earlier
action on a whole dataset it lives in (CreateDataset, RelocateDataset, the source of an
ArchiveDataset), and an action on a whole dataset waits for everything earlier in that
dataset, but for CreateDataset, which waits for nothing in it (`dependencies`). An action
may itself run its independent steps concurrently (an ArchiveDataset's per-table copies),
at most `parallelism` at once (`Context.parallelism`). So a failure blocks exactly what it blocks in sequence: everything
that depends on it has waited for it, nothing else has. Outcomes are recorded, and
reported ("[i/N] Kind label ... done in 1.2 s", i counting completions), from the one
thread that schedules; the result lists them in plan order.
`apply()` is the whole walk in one call; the apply session (`reconcile.apply.session`)
drives a Run with a per-action callback, so a Prefect flow can make each action a task.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextvars
import datetime as dt
import fnmatch
import logging
import time
from typing import Callable, Sequence

from reconcile import identifiers as ids
from reconcile.apply.context import EXECUTOR_LOG, Context
from reconcile.apply.dryrun import describe
from reconcile.apply.handlers import HANDLERS
from reconcile.apply.records import write_run_records
from reconcile.apply.results import ActionFailed, ApplyResult, Outcome
from reconcile.bq.adapter import Adapter, BigQueryError
from reconcile.plan.actions import Action, CreateDataset, Plan, UnknownAction
from reconcile.spec.model import DesiredState

log = logging.getLogger(EXECUTOR_LOG)

# How a caller carries out one action that is to run (the default: Run.execute).
Execute = Callable[["Run", Action], Outcome]
# Told after each change of a plan ran: (its step, the number of changes, it, its outcome).
Finished = Callable[[int, int, Action, Outcome], None]


def _is_change(a: Action) -> bool:
    """A change of the plan (`Plan.changes`): neither report-only nor blocked by the plan."""
    return not a.reports_only and not a.blocked_by


DEFAULT_PARALLELISM = 10  # actions in flight at once (Terraform's -parallelism default)


def _is_pattern(ref: str) -> bool:
    return any(ch in ref for ch in "*?[")


def dependencies(actions: Sequence[Action], desired: DesiredState) -> list[set[int]]:
    """For each action (by index in plan order), the indices of the earlier actions it must
    wait for (see the module docstring). Conservative: two actions that share a table wait
    for each other in plan order even if both only read it."""
    ops = desired.ops_dataset
    deps: list[set[int]] = []
    by_table: dict[str, list[int]] = {}  # concrete table -> actions using it
    by_pattern: dict[str, list[int]] = {}  # table pattern (a transform's glob input) -> actions
    in_dataset: dict[str, list[int]] = {}  # dataset -> actions using anything in it
    whole: dict[str, list[int]] = {}  # dataset -> actions on the whole dataset
    whole_any: list[int] = []
    for j, a in enumerate(actions):
        t_tables, t_datasets = a.touches(desired)
        x_tables, x_datasets = a.taints()
        tables = set(t_tables) | set(x_tables) | set(a.inputs)
        datasets = set(t_datasets) | set(x_datasets) | {t.split(".", 1)[0] for t in tables if "." in t}
        if not a.reports_only:
            datasets.add(ops)  # its ledger rows and run record: a move of ops comes first
        # Acted on as a whole: the datasets its failure leaves unsafe (CreateDataset,
        # RelocateDataset, an ArchiveDataset's source; an archive only adds its own
        # `<dataset>__<table>` names to the archive dataset: table-level order covers that).
        on_whole = set(x_datasets)
        d: set[int] = set()
        for t in tables:
            if _is_pattern(t):
                d.update(i for ref, idx in by_table.items() if fnmatch.fnmatchcase(ref, t) for i in idx)
                d.update(by_pattern.get(t, ()))
            else:
                d.update(by_table.get(t, ()))
                d.update(i for pat, idx in by_pattern.items() if fnmatch.fnmatchcase(t, pat) for i in idx)
        for ds in datasets:
            d.update(whole.get(ds, ()))
        if not isinstance(a, CreateDataset):
            # Creating a dataset waits for nothing in it: what uses it comes after it (the
            # graph's order), except the record every action appends to ops, which needs
            # ops to exist, not this action to wait for it.
            for ds in on_whole:
                d.update(in_dataset.get(ds, ()))
        if a.late:
            d.update(whole_any)
        deps.append(d)
        for t in tables:
            (by_pattern if _is_pattern(t) else by_table).setdefault(t, []).append(j)
        for ds in datasets | on_whole:
            in_dataset.setdefault(ds, []).append(j)
        for ds in on_whole:
            whole.setdefault(ds, []).append(j)
        if on_whole:
            whole_any.append(j)
    return deps


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
        self.order = {a.key: i for i, a in enumerate(plan.actions)}

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
                 execute: Execute | None = None, finished: Finished | None = None,
                 parallelism: int = 1) -> ApplyResult:
        """Every action of the plan in its order (the first `stop_after` only, if given), then
        `finish`. The changes (`Plan.changes`: what is neither report-only nor blocked by the
        plan) are numbered `[i/n]`, n being their count: `progress` gets "[i/n] Kind label"
        before each, `finished(i, n, action, outcome)` after it. What the plan holds back is
        recorded without a step of its own (a report lists it once).

        `parallelism` > 1 (and no `stop_after`, not a dry run): up to that many actions run at
        once, each as soon as the earlier actions it depends on (`dependencies`) ended;
        `progress` and `finished` are then called together when an action ends, i counting
        the changes ended so far."""
        if parallelism > 1 and stop_after is None and not self.dry_run:
            return self._run_parallel(progress, execute, finished, parallelism)
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

    def _run_parallel(self, progress: Callable[[str], None] | None, execute: Execute | None,
                      finished: Finished | None, parallelism: int) -> ApplyResult:
        say = progress or (lambda m: log.info(m))
        actions = list(self.plan.actions)
        for a in actions:
            _known(a)
        deps = dependencies(actions, self.desired)
        self.ctx.parallelism = parallelism
        waiting = [len(d) for d in deps]
        followers: list[list[int]] = [[] for _ in actions]
        for j, d in enumerate(deps):
            for i in d:
                followers[i].append(j)
        total = sum(1 for a in actions if _is_change(a))
        ready = [i for i, w in enumerate(waiting) if w == 0]
        step = 0
        running: dict[cf.Future, tuple[int, dt.datetime]] = {}
        error: BaseException | None = None
        run_one = execute or Run.execute

        def ended(i: int, outcome: Outcome, started: dt.datetime) -> None:
            nonlocal step
            a = actions[i]
            self.record(a, outcome, started)
            if _is_change(a):
                step += 1
                say(f"[{step}/{total}] {a.kind} {a.label()}")
                if finished is not None:
                    finished(step, total, a, outcome)
            for j in followers[i]:
                waiting[j] -= 1
                if waiting[j] == 0:
                    ready.append(j)

        with cf.ThreadPoolExecutor(max_workers=parallelism, thread_name_prefix="apply") as pool:
            while (ready or running) and error is None:
                ready.sort()
                while ready and error is None:
                    i = ready.pop(0)
                    a = actions[i]
                    started = dt.datetime.now(dt.timezone.utc)
                    held = self.held(a)
                    if held is not None:
                        ended(i, _outcome(a, held[0], held[1], {}, 0.0), started)
                        ready.sort()
                        continue
                    if len(running) >= parallelism:
                        ready.insert(0, i)
                        break
                    # Each call runs in a copy of this thread's context (a Prefect flow
                    # run's, in the flows), so what it calls sees the same run.
                    ctx = contextvars.copy_context()
                    running[pool.submit(ctx.run, run_one, self, a)] = (i, started)
                if not running:
                    continue
                done, _ = cf.wait(list(running), return_when=cf.FIRST_COMPLETED)
                for fut in sorted(done, key=lambda f: running[f][0]):
                    i, started = running.pop(fut)
                    try:
                        ended(i, fut.result(), started)
                    except BaseException as e:  # noqa: BLE001 - raised once the running ones end
                        error = error or e
            if error is not None:
                for fut in cf.as_completed(list(running)):
                    i, started = running.pop(fut)
                    try:
                        ended(i, fut.result(), started)
                    except BaseException:  # noqa: BLE001 - the first error is the one raised
                        pass
                raise error
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
        pairs = sorted(zip(self.outcomes, self.stamps), key=lambda p: self.order.get(p[0].key, len(self.order)))
        self.outcomes = [o for o, _ in pairs]
        self.stamps = [s for _, s in pairs]
        result = ApplyResult(run_id=self.run_id, outcomes=tuple(self.outcomes),
                             ok=not any(o.status == "failed" for o in self.outcomes))
        if not self.dry_run and self.outcomes:
            write_run_records(self.ctx, result, self.stamps)
        return result


def _outcome(a: Action, status: str, detail: str, observed: dict, seconds: float) -> Outcome:
    return Outcome(key=a.key, kind=a.kind, target=a.target, status=status, detail=detail,
                   observed=observed, seconds=seconds)


def apply(plan: Plan, desired: DesiredState, adapter: Adapter, *, run_id: str, dry_run: bool = False,
          progress: Callable[[str], None] | None = None, stop_after: int | None = None,
          parallelism: int = 1) -> ApplyResult:
    """Carry out `plan` in its order and return one Outcome per action handled.

    Diagnostics are 'skipped', actions the plan blocks (or that depend on one that failed
    or was blocked in this run) are 'blocked'; the others run through their handlers and
    end 'done', 'noop' (nothing was left to do) or 'failed'. `dry_run` describes instead
    ('dry-run') and sends no request. `stop_after=N` returns after the first N actions
    (tests of partial progress). Outcomes are written to <ops>.run_records unless dry_run.
    An action type with no handler raises UnknownAction before anything runs.
    `parallelism` > 1 runs independent actions concurrently (`Run.run_plan`)."""
    return Run(plan, desired, adapter, run_id=run_id, dry_run=dry_run).run_plan(
        progress=progress, stop_after=stop_after, parallelism=parallelism)
