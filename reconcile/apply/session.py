"""The apply session: the one orchestration of an apply, for `reconcile apply` and every flow.

    session = Session(desired, adapter, run_id=..., target=..., scope=Scope(...), steps=Steps(...))
    p = session.plan()           read the warehouse, plan, restrict the plan to the scope
    applied = session.apply(p)   hold the project (the caller's hold, then the lease); plan
                                 again if another apply held it meanwhile; run the changes,
                                 one action at a time; read the warehouse again; judge

What the caller does differently goes in through `Steps`: the CLI reads, plans and runs
each action directly and prints; a flow wraps the read, the plan and each action in
Prefect tasks (retried on transient errors) and adds Prefect's concurrency slot as a
hold. Everything that decides lives here or below: which actions run and which are
blocked (`reconcile.apply.run.Run`, from the actions' own `touches` and `taints`), and
what the run means (`Applied`: converged iff no action failed and the re-read plan has
no drift, `reconcile.render.result.assess`; the CLI's exit code and the flows' final
state are both read from it).

`Scope` and `make_plan` are the one restriction of a plan (`--only`, a flow's kinds).
This module does not import Prefect.
"""

from __future__ import annotations

import difflib
import fnmatch
import time
from contextlib import AbstractContextManager, ExitStack
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Sequence

from reconcile.apply.lease import Busy, LeaseHeld, lease
from reconcile.apply.results import Outcome
from reconcile.apply.run import DEFAULT_PARALLELISM, Execute, Finished, Run
from reconcile.bq.adapter import Adapter
from reconcile.plan.actions import ACTIONS, Action, Plan
from reconcile.plan.planner import plan as plan_pure
from reconcile.plan.planner import restrict
from reconcile.render.result import Assessment, assess
from reconcile.snapshot.model import Snapshot
from reconcile.snapshot.read import read_remembering
from reconcile.spec.model import DesiredState
from reconcile.spec.sources import SourceManifest, read_sources

ACTION_KINDS = frozenset(a.__name__ for a in ACTIONS)
EXIT_OK, EXIT_ERROR, EXIT_CHANGES, EXIT_BLOCKED = 0, 1, 2, 3


# ---------------------------------------------------------------- what to plan


@dataclass(frozen=True)
class Scope:
    """What part of the difference an apply (or a drift check) answers for.

    `kinds` are the action kinds of a single-flow run (None: all); `only` narrows further
    to action kinds and/or objects (dataset, dataset.table, globs), as `--only` does;
    `extra` actions are appended to the plan (scheduled transforms, which run on a clock
    rather than on a difference)."""

    approvals: tuple[str, ...] = ()
    allow_destructive: bool | tuple[str, ...] = False  # reconcile.plan.allows
    kinds: tuple[str, ...] | None = None
    only: tuple[str, ...] = ()
    extra: tuple[Action, ...] = ()

    def whole(self) -> "Scope":
        """The same approvals over the whole warehouse."""
        return replace(self, kinds=None, only=(), extra=())


def restrict_plan(p: Plan, kinds: Sequence[str] | None, only: Sequence[str]) -> Plan:
    """A plan narrowed to `kinds` (None: all), then by `only` (action kinds and/or objects)."""
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


class ScopeError(ValueError):
    """A selector (--only, an approval) that names nothing: a typo must not look like "in sync"."""


def _close(value: str, names: Sequence[str]) -> str:
    close = difflib.get_close_matches(value, sorted(set(names)), n=3, cutoff=0.6)
    return f" (did you mean {' or '.join(close)}?)" if close else ""


def check_approvals(scope: Scope, desired: DesiredState) -> None:
    """Every approval names a declared dataset (before anything is read)."""
    bad = [f"--approve-relocation {a!r} is not a dataset of the spec{_close(a, list(desired.datasets))}"
           for a in scope.approvals if a not in desired.datasets]
    if bad:
        raise ScopeError("; ".join(bad))


def check_selectors(scope: Scope, desired: DesiredState, snapshot: Snapshot) -> None:
    """Every `only` value is an action kind or matches (exactly or as a glob) an object of
    the spec or of the warehouse: dataset, table, view, transform, load source."""
    objects = {*desired.datasets, *desired.tables, *desired.views, *desired.transforms,
               *(ld.source for ld in desired.loads), *(m.source_dataset for m in desired.migrations),
               *snapshot.datasets, *snapshot.tables}
    if desired.archive:
        objects.add(desired.archive.dataset)
    bad = []
    for o in scope.only:
        if o in ACTION_KINDS or o in objects or any(fnmatch.fnmatchcase(x, o) for x in objects):
            continue
        hint = _close(o, sorted(ACTION_KINDS)) if o[:1].isupper() else _close(o, sorted(objects))
        bad.append(f"--only {o!r} is neither an action kind nor an object of the spec or the "
                   f"warehouse{hint}")
    if bad:
        raise ScopeError("; ".join(bad))


def make_plan(desired: DesiredState, snapshot: Snapshot, scope: Scope,
              sources: SourceManifest | None = None) -> Plan:
    """The planner (pure) on the snapshot and the staging files (read now unless given),
    restricted to the scope (its `extra` actions are the session's to add)."""
    p = plan_pure(desired, snapshot, read_sources(desired, snapshot.loaded) if sources is None else sources,
                  approvals=list(scope.approvals), allow_destructive=scope.allow_destructive)
    return restrict_plan(p, scope.kinds, scope.only)


def plan_exit_code(p: Plan) -> int:
    """0 in sync (no drift, `assess`), 3 something needs a human, 2 changes pending."""
    if assess(p).in_sync:
        return EXIT_OK
    return EXIT_BLOCKED if p.blocked else EXIT_CHANGES


# ---------------------------------------------------------------- what the caller does


@dataclass(frozen=True)
class Steps:
    """How a caller takes part in a session; each left None is the library's own.

    read()                       the live snapshot
    plan(snapshot, scope, srcs)  a plan restricted to `scope` (srcs None: read the staging files)
    execute(run, action)         carry out one action that is to run (default `Run.execute`)
    progress(line)               before each change: "[i/n] Kind label" (n: the plan's changes)
    finished(i, n, action, o)    after each change, with its outcome
    revalidate(snapshot)         a saved plan is being applied: instead of planning again after
                                 waiting for another apply, say what changed (empty: still valid)
    waiting(held, seconds)       the lease is held by another run: waiting up to `seconds`
    replanned(plan)              planned again under the lease, after waiting for another apply
    """

    read: Callable[[], Snapshot] | None = None
    plan: Callable[[Snapshot, Scope, SourceManifest | None], Plan] | None = None
    execute: Execute | None = None
    progress: Callable[[str], None] | None = None
    finished: Finished | None = None
    revalidate: Callable[[Snapshot], list[str]] | None = None
    waiting: Callable[[LeaseHeld, float], None] | None = None
    replanned: Callable[[Plan], None] | None = None


# ---------------------------------------------------------------- what happened


@dataclass(frozen=True)
class Applied:
    """One apply, judged. `outcomes` are in plan order, one per action handled."""

    project: str
    run_id: str
    plan: Plan  # the plan carried out (made again under the lease if the session waited)
    outcomes: tuple[Outcome, ...]
    dry_run: bool = False
    failure: str | None = None  # the project was held by another apply: nothing ran
    after: Plan | None = None  # the plan of the warehouse re-read after the run
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def assessment(self) -> Assessment:
        """Drift left: of the re-read warehouse, or of the plan when nothing ran."""
        return assess(self.after if self.after is not None else self.plan)

    @property
    def failed(self) -> tuple[Outcome, ...]:
        return tuple(o for o in self.outcomes if o.status == "failed")

    @property
    def not_run(self) -> tuple[Action, ...]:
        """Changes not run because they build on an action that failed or was blocked."""
        status = {o.key: o.status for o in self.outcomes}
        return tuple(a for a in self.plan.changes if status.get(a.key) == "blocked")

    @property
    def converged(self) -> bool:
        return not self.failure and not self.failed and self.assessment.in_sync and not self.dry_run

    @property
    def exit_code(self) -> int:
        """0 converged (or nothing to do), 3 blocked items remain or a gate failed,
        2 changes remain (a dry run, or a re-read plan that still has some), 1 failure."""
        if self.failure:
            return EXIT_ERROR
        if self.after is None:  # a dry run, or nothing to apply: the plan's own verdict
            return plan_exit_code(self.plan)
        # A failed gate is "needs attention" (3), like a refused change; any other failure is an
        # error. Gates: Validate, and a load's gate re-checked on its table (observed "gate").
        if any(o.kind != "Validate" and not o.observed.get("gate") for o in self.failed):
            return EXIT_ERROR
        return EXIT_BLOCKED if self.failed else plan_exit_code(self.after)

    def reported(self) -> tuple[Outcome, ...]:
        """The outcomes a run report lists: the changes that ran, then what the plan held
        back (diagnostics, flags, blocked actions); unmanaged objects are left to the
        assessment, and changes not run are listed apart (`not_run`)."""
        changes = {a.key for a in self.plan.changes}
        skipped = {a.key for a in self.not_run}
        unmanaged = {a.key for a in self.plan.unmanaged}
        ran = [o for o in self.outcomes if o.key in changes and o.key not in skipped]
        held = [o for o in self.outcomes if o.key not in changes and o.key not in unmanaged]
        return tuple(ran + held)

    @property
    def reason(self) -> str:
        """One line: what the run did and whether it converged (a flow's state message)."""
        changes = self.plan.changes
        done = sum(1 for o in self.outcomes if o.status in ("done", "noop"))
        if self.failure:
            return f"not applied: {self.failure}"
        if self.dry_run:
            return f"dry run: {len(changes)} change(s) would run on {self.project}; nothing was changed"
        if self.failed:
            o = self.failed[0]
            not_run = self.not_run
            extra = f"; {len(not_run)} later action(s) that depend on it not run" if not_run else ""
            return f"not converged: {o.key} failed: {o.detail}{extra}"
        after = self.assessment
        waiting = f"; {len(after.known_gaps)} known gap(s)" if after.known_gaps else ""
        if not after.in_sync:
            return f"not converged after {done} action(s): {after.summary()}{waiting}"
        if not changes:
            return f"in sync: nothing to apply on {self.project}{waiting}"
        return f"converged: {done} action(s) applied, no drift left on {self.project}{waiting}"


# ---------------------------------------------------------------- the session


class Session:
    """One apply (or drift check) on one project. See the module docstring.

    `verify_whole`: judge the whole warehouse after the run, not only the scope (the
    CLI reports everything left to do; a single-flow run answers for its kinds)."""

    def __init__(self, desired: DesiredState, adapter: Adapter, *, run_id: str, target: str,
                 scope: Scope = Scope(), steps: Steps = Steps(), verify_whole: bool = False,
                 parallelism: int = DEFAULT_PARALLELISM):
        self.desired = desired
        self.parallelism = parallelism  # actions (and snapshot queries) in flight at once
        self.adapter = adapter
        self.run_id = run_id
        self.target = target
        self.scope = scope
        self.steps = steps
        self.verify_whole = verify_whole
        self.timings: dict[str, float] = {}
        self._held_lease: Any = None  # the lease as held (reconcile.apply.lease.Held), once taken
        self.last_snapshot: Snapshot | None = None  # the warehouse as last read (outside_scope)

    # ------------------------------------------------------------ reading and planning
    def read(self) -> Snapshot:
        if self.steps.read is not None:
            snap = self.steps.read()
        else:
            snap = read_remembering(self.adapter, self.desired, target=self.target, parallelism=self.parallelism)
        self.last_snapshot = snap
        return snap

    def outside_scope(self) -> Assessment | None:
        """The drift of the last warehouse read that lies outside this session's scope (a
        single-flow run answers for its kinds; it still says what else differs). Pure:
        plans the whole spec over the snapshot already read. None before any read."""
        if self.last_snapshot is None or (self.scope.kinds is None and not self.scope.only):
            return None
        snap = self.last_snapshot
        sources = read_sources(self.desired, snap.loaded)  # the staging files read once for both plans
        whole = assess(make_plan(self.desired, snap, self.scope.whole(), sources))
        mine = {a.key for a in assess(self._plan(snap, self.scope, sources)).drift}
        return Assessment(tuple(a for a in whole.drift if a.key not in mine), (), ())

    def _plan(self, snapshot: Snapshot, scope: Scope, sources: SourceManifest | None) -> Plan:
        if self.steps.plan is not None:
            return self.steps.plan(snapshot, scope, sources)
        return make_plan(self.desired, snapshot, scope, sources)

    def plan(self, sources: SourceManifest | None = None) -> Plan:
        """Read the warehouse and plan the scope (with its extra actions). The first call's
        seconds go to the timings ('snapshot', 'plan')."""
        t0 = time.monotonic()
        snapshot = self.read()
        check_selectors(self.scope, self.desired, snapshot)
        t1 = time.monotonic()
        p = self._with_extra(self._plan(snapshot, self.scope, sources))
        self.timings.setdefault("snapshot", t1 - t0)
        self.timings.setdefault("plan", time.monotonic() - t1)
        return p

    def _with_extra(self, p: Plan) -> Plan:
        have = {a.key for a in p.actions}
        extra = tuple(a for a in self.scope.extra if a.key not in have)
        return replace(p, actions=p.actions + extra) if extra else p

    def _run(self, p: Plan, *, dry_run: bool = False) -> Run:
        return Run(p, self.desired, self.adapter, run_id=self.run_id, dry_run=dry_run)

    def _applied(self, p: Plan, outcomes: tuple[Outcome, ...], **kw) -> Applied:
        return Applied(project=self.desired.project, run_id=self.run_id, plan=p, outcomes=outcomes,
                       timings=dict(self.timings), **kw)

    # ------------------------------------------------------------ applying
    def apply(self, p: Plan, *, dry_run: bool = False, wait_seconds: float = 0.0,
              hold: Callable[[], AbstractContextManager[bool | None]] | None = None) -> Applied:
        """Carry out `p`'s changes and judge the result.

        Nothing to change: nothing is held or run. A dry run describes every action, holds
        nothing and reads nothing again. Otherwise the caller's `hold` (a context manager
        whose value says whether it had to wait) and the project's lease are taken, waiting
        up to `wait_seconds` for another apply; if either was busy, the plan is made again
        under them (the other run may have done some of it). Refused holds end the session
        with `failure` set and nothing run. After the run the warehouse is read again."""
        t0 = time.monotonic()
        if not p.changes:
            self.timings["apply"] = 0.0
            return self._applied(p, self._run(p).held_back())
        if dry_run:
            result = self._run(p, dry_run=True).run_plan(progress=self.steps.progress,
                                                         execute=self.steps.execute,
                                                         finished=self.steps.finished)
            self.timings["apply"] = time.monotonic() - t0
            return self._applied(p, result.outcomes, dry_run=True)
        with ExitStack() as held:
            try:
                waited = self._hold(held, hold, wait_seconds)
            except Busy as e:
                self.timings["apply"] = time.monotonic() - t0
                return self._applied(p, self._run(p).held_back(), failure=str(e))
            if waited and self.steps.revalidate is not None:
                changed = self.steps.revalidate(self.read())
                if changed:
                    self.timings["apply"] = time.monotonic() - t0
                    return self._applied(p, self._run(p).held_back(),
                                         failure="the saved plan went stale while waiting for another "
                                                 "apply: " + "; ".join(changed))
            elif waited:
                p = self._with_extra(self._plan(self.read(), self.scope, None))
                if self.steps.replanned is not None:
                    self.steps.replanned(p)
            if p.changes:
                outcomes = self._run(p).run_plan(progress=self.steps.progress,
                                                 execute=_while_held(self._held_lease, self.steps.execute),
                                                 finished=self.steps.finished,
                                                 parallelism=self.parallelism).outcomes
            else:
                outcomes = self._run(p).held_back()
        self.timings["apply"] = time.monotonic() - t0
        t0 = time.monotonic()
        after = self._plan(self.read(), self.scope.whole() if self.verify_whole else self.scope, None)
        self.timings["verify"] = time.monotonic() - t0
        return self._applied(p, outcomes, after=after)

    def _hold(self, held: ExitStack, hold: Callable[[], AbstractContextManager[bool | None]] | None,
              wait_seconds: float) -> bool:
        """Take the caller's hold, then the lease, into `held`. True if another apply held
        either and this one waited for it (then the plan must be made again)."""
        waited = bool(held.enter_context(hold())) if hold is not None else False
        try:
            self._held_lease = held.enter_context(lease(self.adapter, self.desired, self.run_id))
        except LeaseHeld as e:
            if wait_seconds <= 0:
                raise
            if self.steps.waiting is not None:
                self.steps.waiting(e, wait_seconds)
            self._held_lease = held.enter_context(lease(self.adapter, self.desired, self.run_id,
                                                        wait_seconds=wait_seconds))
            waited = True
        return waited


def _while_held(held: Any, execute: Any) -> Any:
    """`execute`, refused once the lease is lost (issue 18): a run whose renewal matched no
    row (broken, or taken by another run) starts no further action; each is 'failed'
    with the reason, and nothing of it is sent."""
    from reconcile.apply.run import Run, _outcome

    def run_one(run: Any, a: Any) -> Any:
        lost = getattr(held, "lost", None)
        if lost:
            return _outcome(a, "failed", f"not run: {lost}", {}, 0.0)
        return (execute or Run.execute)(run, a)

    return run_one

