"""`reconcile apply [PLAN]`: the apply session (reconcile.apply.session), printed for people.

    plan (or load a saved plan and check it is still what the warehouse looks like)
    -> show it -> confirm ("yes", or --auto-approve) -> Applying N change(s):
       [i/N] Kind label ... done in 1.2 s   (or: unchanged, failed: why, blocked: by what)
    -> re-read the warehouse -> converged, or what is left and why

With `--format json` the human lines go to stderr and stdout carries the run result
(docs/schemas/result.schema.json); `--results FILE` writes the same document to FILE.
Exit codes: 0 converged (or nothing to do), 3 something needs a human (a blocked
item, a failed gate, changes still pending: a dry run, an --only that left some out),
1 error. Never 2: that is `plan`'s "changes pending".
"""

from __future__ import annotations

import datetime as dt
import sys
import time
from pathlib import Path
from typing import TextIO

from reconcile import identifiers as ids
from reconcile.apply.lease import break_lease
from reconcile.apply.results import new_run_id
from reconcile.apply.run import Run
from reconcile.apply.session import Applied, Scope, Session, Steps, check_approvals
from reconcile.bq.targets import connect
from reconcile.plan import saved as saved_plans
from reconcile.plan.actions import Plan
from reconcile.plan.allows import AllowError, Allows
from reconcile.spec.load import load_spec
from reconcile.spec.sources import read_sources

EXIT_ERROR, EXIT_CHANGES, EXIT_BLOCKED = 1, 2, 3
CONFIRM_WORD = "yes"


class ApplyRefused(Exception):
    """Apply refused before anything ran (no approval, a stale saved plan): exit 1."""


def _interactive() -> bool:
    try:
        return bool(sys.stdin.isatty())
    except (AttributeError, ValueError, OSError):  # a closed or replaced stdin
        return False


def confirm(p: Plan, project: str, target: str, out: TextIO) -> bool:
    """Terraform's question: only the word 'yes' approves."""
    out.write(f"\nDo you want to perform these actions on {project} (target {target})?\n"
              f"  reconcile will apply {len(p.changes)} change(s). Only '{CONFIRM_WORD}' will be "
              "accepted to approve.\n\n  Enter a value: ")
    out.flush()
    try:
        answer = sys.stdin.readline().strip()
    except (OSError, ValueError):
        answer = ""
    return answer == CONFIRM_WORD


def scope_of(args, desired) -> Scope:
    """The part of the difference `--approve-relocation`, `--allow-destructive` and `--only`
    ask for (plan and apply alike); an approval that is not a valid dataset name, or names
    no dataset of the spec, is an error before anything is read."""
    for name in args.approve_relocation:
        try:
            ids.check_dataset(name)
        except ids.IdentifierError as e:
            raise ApplyRefused(f"--approve-relocation: {e}") from None
    try:
        allows = Allows.of(args.allow_destructive).tokens
    except AllowError as e:
        raise ApplyRefused(str(e)) from None
    scope = Scope(approvals=tuple(args.approve_relocation), allow_destructive=allows,
                  only=tuple(args.only))
    check_approvals(scope, desired)
    return scope


def run(args, *, render, color: bool) -> int:
    """The command. `render(plan, fmt, color)` is the CLI's plan renderer."""
    as_json = args.format == "json"
    out: TextIO = sys.stderr if as_json else sys.stdout
    desired = load_spec(Path(args.spec))
    sources = read_sources(desired)
    saved = saved_plans.load(args.plan_file) if args.plan_file else None
    if saved is not None and (args.only or args.approve_relocation or args.allow_destructive):
        raise ApplyRefused("a saved plan carries its own selection and approvals: drop --only, "
                           "--approve-relocation and --allow-destructive, or plan again")
    scope = (Scope(approvals=saved.approvals, allow_destructive=saved.allow_destructive, only=saved.only)
             if saved is not None else scope_of(args, desired))
    if not (args.dry_run or args.auto_approve or _interactive()):
        raise ApplyRefused("apply changes the warehouse and stdin is not a terminal: pass --auto-approve "
                           "(or review first: reconcile plan --out-plan FILE, then reconcile apply FILE "
                           "--auto-approve)")
    run_id = new_run_id()
    adapter = connect(desired, args.target, run_id=run_id)
    started = dt.datetime.now(dt.timezone.utc)
    t0 = time.monotonic()
    jobs: dict[str, list[str]] = {}

    def say(line: str = "", end: str = "\n") -> None:
        out.write(line + end)
        out.flush()

    def execute(r: Run, a):
        first = len(adapter.jobs)
        o = Run.execute(r, a)
        jobs[a.key] = adapter.jobs[first:]
        return o

    def finished(i: int, n: int, a, o) -> None:
        what = {"done": "done", "noop": "unchanged", "dry-run": "would run"}.get(o.status, o.status)
        tail = f": {o.detail}" if o.status in ("failed", "blocked", "dry-run") else ""
        say(f" ... {what} in {o.seconds:.1f} s{tail}")

    def waiting(held, seconds: float) -> None:
        say(f"Waiting up to {seconds:g}s for the lease: run {held.holder} holds it since {held.since}")

    def replanned(p) -> None:
        # Another run held the lease and may have done some of this plan's work: the plan
        # made before waiting was stale, so the session made it again under the lease.
        say(f"Re-planned after waiting for the lease: {len(p.changes)} change(s) left")
        if p.changes:
            out.write(render(p, "text", color))

    def revalidate(snapshot) -> list[str]:
        return saved_plans.stale(saved, desired, snapshot, sources, args.target)

    # The CLI judges the whole warehouse after the run, --only or not.
    session = Session(desired, adapter, run_id=run_id, target=args.target, scope=scope, verify_whole=True,
                      parallelism=args.parallelism,
                      steps=Steps(progress=lambda line: say(line, end=""), waiting=waiting, replanned=replanned, execute=execute,
                                  finished=finished, revalidate=revalidate if saved else None))
    if saved is None:
        p = session.plan(sources)
    else:
        changed = saved_plans.stale(saved, desired, session.read(), sources, args.target)
        if changed:
            raise ApplyRefused(f"{args.plan_file}: the saved plan (fingerprint {saved.fingerprint}) is stale, "
                               f"nothing was applied: {'; '.join(changed[:12])}"
                               + (f"; and {len(changed) - 12} more" if len(changed) > 12 else "")
                               + ". Plan again.")
        p = saved.plan
        say(f"Applying the saved plan {args.plan_file} (fingerprint {saved.fingerprint}): "
            "the spec and the warehouse are as it was made")
    out.write(render(p, "text", color))
    if not p.changes:
        say("Nothing to apply.")
        return _finish(args, session.apply(p), started, jobs, saved, say)
    if not args.dry_run and not args.auto_approve:
        if not confirm(p, desired.project, args.target, out):
            raise ApplyRefused("apply cancelled: only 'yes' approves")
    verb = "Would apply" if args.dry_run else "Applying"
    say(f"\n{verb} {len(p.changes)} change(s), run {run_id}" + (" (dry run: nothing changes)" if args.dry_run else ""))
    if args.break_lease and not args.dry_run:
        break_lease(adapter, desired, args.break_lease, force=getattr(args, "force", False))
        say(f"Lease of run {args.break_lease} removed.")
    applied = session.apply(p, dry_run=args.dry_run, wait_seconds=args.wait_lease)
    if applied.failure:  # another apply holds the project, or a saved plan went stale
        print(f"error: {applied.failure}", file=sys.stderr)
        _finish(args, applied, started, jobs, saved, say)
        return EXIT_ERROR
    for o in applied.failed:
        say(f"FAILED {o.key}: {o.detail}")
    if not args.dry_run:
        ran = [o for o in applied.outcomes if o.key in {a.key for a in p.changes}]
        counts = {s: sum(1 for o in ran if o.status == s) for s in ("done", "noop", "failed", "blocked")}
        say(f"\nApplied {len(ran)} of {len(p.changes)} change(s) in {time.monotonic() - t0:.1f}s: "
            f"{counts['done']} done, {counts['noop']} unchanged, {counts['failed']} failed, "
            f"{counts['blocked']} not run (blocked). Re-reading the warehouse:")
        after = applied.after  # the warehouse read again after the run
        if after.changes or after.blocked:
            out.write(render(after, "text", color))
        else:
            say("Converged: the warehouse matches the desired state.")
    return _finish(args, applied, started, jobs, saved, say)


def _finish(args, applied: Applied, started: dt.datetime, jobs: dict[str, list[str]], saved, say) -> int:
    """The exit code; the run result as JSON on stdout (--format json) and/or in --results."""
    code = EXIT_ERROR if applied.failure else applied.exit_code
    # Apply's exit codes are 0, 3 and 1 only: changes still pending after the run (an
    # --only that left some out, a dry run) are not "converged", and a human decides
    # what runs next: 3, never the plan's 2.
    if code == EXIT_CHANGES:
        code = EXIT_BLOCKED
    if args.format != "json" and not args.results:
        return code
    from reconcile.render.run_result import render_run_result

    held = {a.key: a for a in applied.plan.actions if a.reports_only or a.blocked_by}
    outcomes = {o.key: o for o in applied.outcomes}
    not_run = [{"key": k, "kind": a.kind, "target": a.target,
                "reason": outcomes[k].detail if k in outcomes else ""} for k, a in held.items()]
    doc = render_run_result(
        project=applied.project, target=args.target, run_id=applied.run_id, dry_run=applied.dry_run,
        started_at=started.isoformat(), finished_at=dt.datetime.now(dt.timezone.utc).isoformat(),
        outcomes=[o for o in applied.outcomes if o.key not in held], job_ids=jobs, not_run=not_run,
        exit_code=code, converged=applied.converged, reason=applied.reason,
        plan_fingerprint=saved.fingerprint if saved is not None else None, after=applied.assessment)
    if args.results:
        Path(args.results).write_text(doc, encoding="utf-8")
        say(f"Run result written to {args.results}")
    if args.format == "json":
        sys.stdout.write(doc)
    return code
