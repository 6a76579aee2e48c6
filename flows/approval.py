"""Approval in the Prefect UI: pause a reconcile run on what needs a person, apply exactly
what they approved.

When the plan holds a change the run's parameters do not approve (a dataset in the
wrong region, which only a relocation can fix; a destructive step that needs an
allow), the run:

1. plans again with those approvals granted and saves that plan
   (`reconcile.plan.saved`: its actions, what they depend on, a fingerprint);
2. publishes it as a Markdown artifact (`<flow>-approval-<project>`) saying what is at
   stake, and pauses with `pause_flow_run(wait_for_input=Approval)`: the run's page in
   the UI shows a Resume button with the same text and a form (approve, fingerprint);
3. resumed with `approve: true` and the fingerprint shown, it reads the warehouse
   again and applies that saved plan only if nothing it depends on changed (as
   `reconcile apply FILE` does); resumed with `approve: false`, or not resumed within
   the timeout, or resumed with another fingerprint, it applies nothing and says so.

Decisions live in the library (the planner, saved plans); this module only asks.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

from prefect import get_run_logger
from prefect.artifacts import create_markdown_artifact
from prefect.exceptions import FlowPauseTimeout
from prefect.flow_runs import pause_flow_run
from prefect.input import RunInput
from pydantic import Field

from reconcile.apply.session import Scope, Session, make_plan
from reconcile.plan import saved as saved_plans
from reconcile.plan.actions import Action, FlagRecreate, Plan
from reconcile.plan.names import NEEDS_ALLOW
from reconcile.snapshot.model import Snapshot
from reconcile.spec.model import DesiredState
from reconcile.spec.sources import read_sources

POLL_SECONDS = 3  # how often a paused run asks the server whether it was resumed
NOT_APPROVED = "NotApproved"  # the final state's name (type FAILED) when nothing was approved


class Approval(RunInput):
    """The form a person fills in to resume a paused reconcile run."""

    approve: bool = Field(default=False, description="Apply the plan shown above: true to apply it, "
                          "false to apply nothing.")
    fingerprint: str = Field(default="", description="The fingerprint of the plan you reviewed "
                             "(filled in: leave it as it is).")
    note: str = Field(default="", description="Why (kept in the run's log).")


@dataclass(frozen=True)
class Pending:
    """What the parameters do not approve: relocations (by dataset) and destructive steps."""

    relocations: tuple[str, ...]
    destructive: tuple[Action, ...]

    def __bool__(self) -> bool:
        return bool(self.relocations or self.destructive)

    def scope(self, scope: Scope) -> Scope:
        """The scope with these approvals granted."""
        return replace(scope, approvals=tuple(sorted({*scope.approvals, *self.relocations})),
                       allow_destructive=scope.allow_destructive or bool(self.destructive))


def pending(p: Plan) -> Pending:
    return Pending(relocations=tuple(a.name for a in p.actions if isinstance(a, FlagRecreate)),
                   destructive=tuple(a for a in p.actions if NEEDS_ALLOW in a.blocked_by))


@dataclass(frozen=True)
class Decision:
    """The outcome of asking: `plan` to apply (approved and still valid) or `refusal`."""

    plan: Plan | None
    scope: Scope
    fingerprint: str
    refusal: str | None = None
    saved: saved_plans.SavedPlan | None = None


def _at_stake(p: Plan) -> list[Action]:
    return [a for a in p.changes if a.destructive]


def approval_markdown(ap: Plan, asked: Pending, fingerprint: str, timeout: int) -> str:
    """What the person is asked to approve: short rows, no command-line words."""
    lines = ["## Approval needed", "",
             "This run paused: the plan below holds changes that delete or recreate data, "
             "which the run's parameters do not approve.", "",
             "| change | object | at stake |", "|---|---|---|"]
    for a in _at_stake(ap):
        s = a.stakes
        lines.append(f"| {a.kind} | `{a.target}` | {s.tables} table(s), {s.rows:,} row(s) |")
    lines += ["", f"Plan fingerprint: `{fingerprint}` ({len(ap.changes)} change(s) in all).", "",
              "To apply exactly this plan, press **Resume** on this run's page, set "
              "**approve** to true and keep the fingerprint as it is. To refuse, resume with "
              f"approve false. Without an answer within {timeout // 60} minute(s), nothing is applied."]
    if asked.relocations:
        lines += ["", "Datasets to recreate in their declared region (their data is copied out, "
                  "verified, and copied back): " + ", ".join(f"`{n}`" for n in asked.relocations) + "."]
    return "\n".join(lines) + "\n"


def ask(*, desired: DesiredState, snapshot: Snapshot, scope: Scope, asked: Pending, target: str,
        artifact_key: str, timeout: int, extra: tuple[Action, ...] = ()) -> Decision:
    """Plan with the approvals granted, save it, pause for a person, and return their decision."""
    logger = get_run_logger()
    wanted = asked.scope(scope)
    sources = read_sources(desired)
    ap = make_plan(desired, snapshot, wanted, sources)
    if extra:
        have = {a.key for a in ap.actions}
        ap = replace(ap, actions=ap.actions + tuple(a for a in extra if a.key not in have))
    text, fp = saved_plans.save(ap, desired, snapshot, sources, target=target,
                                approvals=wanted.approvals, allow_destructive=wanted.allow_destructive,
                                only=wanted.only)
    markdown = approval_markdown(ap, asked, fp, timeout)
    create_markdown_artifact(markdown=markdown, key=artifact_key,
                             description=f"Approval needed on {desired.project} (plan {fp})")
    logger.warning("waiting for approval of plan %s: %s", fp,
                   "; ".join(f"{a.kind} {a.target}" for a in _at_stake(ap)))
    form = Approval.with_initial_data(description=markdown, fingerprint=fp)
    try:
        answer = pause_flow_run(wait_for_input=form, timeout=timeout, poll_interval=POLL_SECONDS,
                                key=f"approve-{fp}")
    except FlowPauseTimeout:
        return Decision(None, wanted, fp, refusal=f"not approved within {timeout}s: nothing applied")
    if not answer.approve:
        why = f" ({answer.note})" if answer.note else ""
        return Decision(None, wanted, fp, refusal=f"approval refused{why}: nothing applied")
    if answer.fingerprint != fp:
        return Decision(None, wanted, fp, refusal=f"approved fingerprint {answer.fingerprint!r} is not "
                        f"the plan's ({fp}): nothing applied")
    logger.info("plan %s approved%s", fp, f": {answer.note}" if answer.note else "")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "approved-plan.json"
        path.write_text(text, encoding="utf-8")
        saved = saved_plans.load(path)
    return Decision(saved.plan, wanted, fp, saved=saved)


def gate(session: Session, p: Plan, *, artifact_key: str, timeout: int) -> Decision | None:
    """None when `p` needs no approval; else ask, and for an approved plan that is still
    what the warehouse looks like, set `session` up to apply it (its scope, and a check
    that it has not gone stale if the run waits for another apply). Refusals, and a
    plan that went stale while paused, come back as `refusal`."""
    asked = pending(p)
    if not asked:
        return None
    d = ask(desired=session.desired, snapshot=session.read(), scope=session.scope, asked=asked,
            target=session.target, artifact_key=artifact_key, timeout=timeout,
            extra=session.scope.extra)
    if d.refusal or d.saved is None:
        return d
    desired, target, saved = session.desired, session.target, d.saved

    def revalidate(snapshot: Snapshot) -> list[str]:
        return saved_plans.stale(saved, desired, snapshot, read_sources(desired), target)

    changed = revalidate(session.read())
    if changed:
        return replace(d, plan=None, refusal="the warehouse changed while the run waited for approval ("
                       + "; ".join(changed) + "): nothing applied; run it again to see the new plan")
    session.scope = d.scope
    session.steps = replace(session.steps, revalidate=revalidate)
    return d
