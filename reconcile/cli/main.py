"""The `reconcile` command line: plan, apply, snapshot, demo seed.

Reads the spec and the staging files first and stops with one clear message
(file and field, exit 1) before anything is sent to BigQuery. Exit codes follow
`terraform plan -detailed-exitcode` and migra: 0 in sync, 2 changes pending,
3 blocked (approval needed, gate failed, source missing), 1 error.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
import time
from pathlib import Path

from reconcile import identifiers as ids
from reconcile.bq.targets import TargetError, connect
from reconcile.spec.model import DesiredState, SpecError, load_spec

log = logging.getLogger("reconcile")

DEFAULT_SPEC = "desired_state/cbi-v14.yaml"
EXIT_OK, EXIT_ERROR, EXIT_CHANGES, EXIT_BLOCKED = 0, 1, 2, 3


class CliError(Exception):
    pass


def _common(p: argparse.ArgumentParser, *, fmt: bool = True) -> None:
    p.add_argument("--spec", default=os.environ.get("RECONCILE_SPEC", DEFAULT_SPEC),
                   help=f"desired-state YAML (default: {DEFAULT_SPEC})")
    p.add_argument("--target", default="local",
                   help="a target named in the spec: 'local' (bundled BigQuery emulator, the default; "
                        "BIGQUERY_EMULATOR_HOST overrides) or 'bigquery' (real project)")
    if fmt:
        p.add_argument("--format", choices=("text", "markdown", "json"), default="text",
                       help="report format (default: text)")
    p.add_argument("--no-color", action="store_true", help="no ANSI colour even on a terminal")
    p.add_argument("-v", "--verbose", action="store_true", help="log every request step")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="reconcile",
        description="Keep a BigQuery project in its declared state: read the live warehouse, "
                    "show what differs, and run only that difference.",
        epilog="Exit codes: 0 in sync, 2 changes pending, 3 blocked (approval needed, gate failed, "
               "source missing), 1 error. Docs: README.md.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("plan", help="show what differs and what apply would do (changes nothing)")
    _common(p)
    p.add_argument("--snapshot", metavar="FILE",
                   help="plan offline against a saved snapshot (no credentials, no BigQuery)")
    p.add_argument("--approve-relocation", action="append", default=[], metavar="DATASET",
                   help="plan the recreation of this wrong-region dataset (repeatable)")
    p.add_argument("--allow-destructive", action="store_true",
                   help="allow destructive actions (replacing a migrated table, deleting archived sources)")
    p.add_argument("--only", action="append", default=[], metavar="KIND_OR_OBJECT",
                   help="restrict to action kinds (e.g. MergeLoad) or objects (dataset or dataset.table)")
    p.add_argument("--out", metavar="FILE", help="also write the report to FILE")

    p = sub.add_parser("apply", help="plan, then run the difference and check it converged")
    _common(p)
    p.add_argument("--approve-relocation", action="append", default=[], metavar="DATASET",
                   help="recreate this wrong-region dataset in its declared region, data carried over (repeatable)")
    p.add_argument("--allow-destructive", action="store_true",
                   help="allow destructive actions (replacing a migrated table, deleting archived sources)")
    p.add_argument("--only", action="append", default=[], metavar="KIND_OR_OBJECT",
                   help="restrict to action kinds or objects")
    p.add_argument("--dry-run", action="store_true", help="print what would run, change nothing")
    p.add_argument("--break-lease", metavar="RUN_ID",
                   help="first remove the lease of a run that died (e.g. killed) — a human decision")
    p.add_argument("--wait-lease", type=float, default=0, metavar="SECONDS",
                   help="wait this long for another apply on the project to finish (default: exit at once)")

    p = sub.add_parser("snapshot", help="read the live state and write it as JSON")
    _common(p, fmt=False)
    p.add_argument("--out", metavar="FILE", required=True, help="where to write the snapshot JSON")

    p = sub.add_parser("status", help="health from the monitoring views: row counts, coverage, regimes, "
                                      "ingestion, latest gate results")
    _common(p)

    p = sub.add_parser("demo", help="demo warehouse from real public data")
    dsub = p.add_subparsers(dest="demo_command", metavar="ACTION")
    s = dsub.add_parser("seed", help="build the cbi-v14 audit-time warehouse and the staging folder")
    _common(s, fmt=False)

    # Pull-request reports (docs/pr-workflow.md): no BigQuery, no credentials.
    spec_help = f"desired-state YAML (default: {DEFAULT_SPEC})"
    p = sub.add_parser("spec-diff", help="what the spec change does: added, removed, modified, destructive")
    p.add_argument("--base", required=True, metavar="REF", help="git ref to compare with (e.g. origin/main)")
    p.add_argument("--spec", default=os.environ.get("RECONCILE_SPEC", DEFAULT_SPEC), help=spec_help)
    p.add_argument("--format", choices=("text", "markdown", "json"), default="text")
    p.add_argument("--out", metavar="FILE", help="also write the report to FILE")
    p.add_argument("-v", "--verbose", action="store_true", help="log more")
    p = sub.add_parser("lint", help="check the spec against the migration plan's success rules")
    p.add_argument("--spec", default=os.environ.get("RECONCILE_SPEC", DEFAULT_SPEC), help=spec_help)
    p.add_argument("--format", choices=("text", "markdown", "json"), default="text")
    p.add_argument("-v", "--verbose", action="store_true", help="log more")
    p = sub.add_parser("pr-comment", help="one Markdown PR comment: spec diff, lint, offline plan")
    p.add_argument("--base", required=True, metavar="REF", help="git ref the PR merges into (e.g. origin/main)")
    p.add_argument("--snapshot", metavar="FILE", help="saved snapshot to plan against offline")
    p.add_argument("--spec", default=os.environ.get("RECONCILE_SPEC", DEFAULT_SPEC), help=spec_help)
    p.add_argument("--out", metavar="FILE", help="write the comment to FILE (default: stdout)")
    p.add_argument("-v", "--verbose", action="store_true", help="log more")

    p = sub.add_parser("local", help="the local stack: BigQuery emulator, Prefect server, deployments, worker")
    lsub = p.add_subparsers(dest="local_command", metavar="ACTION")
    for name, text in (("up", "start (or reuse) the stack on 127.0.0.1 and deploy prefect.yaml"),
                       ("down", "stop exactly the processes `up` recorded"),
                       ("status", "show what runs and its URLs")):
        s = lsub.add_parser(name, help=text)
        s.add_argument("--spec", default=os.environ.get("RECONCILE_SPEC", DEFAULT_SPEC),
                       help=f"desired-state YAML: its project and root (default: {DEFAULT_SPEC})")
        if name == "up":
            s.add_argument("--port", type=int, default=4200, help="Prefect server port (default: 4200, "
                           "or a free one if taken)")
        if name == "status":
            s.add_argument("--api-url", action="store_true",
                           help="print only the Prefect API URL (exit 1 if the server is not up)")
            s.add_argument("--json", action="store_true", help="print the status as JSON")
    return parser


# ---------------------------------------------------------------- commands


def _load(args) -> DesiredState:
    spec = Path(args.spec)
    return load_spec(spec)


def _color(args) -> bool:
    return not args.no_color and sys.stdout.isatty() and os.environ.get("NO_COLOR") is None


def _render(plan, fmt: str, color: bool) -> str:
    from reconcile.render import plan as render

    if fmt == "json":
        return render.render_json(plan)
    if fmt == "markdown":
        return render.render_markdown(plan)
    return render.render_text(plan, color=color)


def _make_plan(args, desired, snapshot, sources):
    from reconcile.plan.planner import plan, restrict

    for name in args.approve_relocation:
        try:
            ids.check_dataset(name)
        except ids.IdentifierError as e:
            raise CliError(f"--approve-relocation: {e}") from None
    p = plan(desired, snapshot, sources, approvals=args.approve_relocation,
             allow_destructive=args.allow_destructive)
    if args.only:
        from reconcile.plan.actions import ACTIONS

        kinds = {a.__name__ for a in ACTIONS}
        p = restrict(p, kinds=[o for o in args.only if o in kinds],
                     objects=[o for o in args.only if o not in kinds])
    return p


def cmd_plan(args) -> int:
    from reconcile.snapshot.model import Snapshot
    from reconcile.snapshot.read import read_snapshot
    from reconcile.spec.sources import read_sources

    desired = _load(args)
    sources = read_sources(desired)
    if args.snapshot:
        snapshot = Snapshot.load(args.snapshot)
        if snapshot.project != desired.project:
            raise CliError(f"{args.snapshot}: project: snapshot is of {snapshot.project!r}, "
                           f"spec is {desired.project!r}")
        age = snapshot.age()
        print(f"planning offline against snapshot {args.snapshot} taken {snapshot.taken_at} "
              f"({_age(age.total_seconds())} ago)", file=sys.stderr)
    else:
        adapter = connect(desired, args.target)
        t0 = time.monotonic()
        snapshot = read_snapshot(adapter, desired, target=args.target)
        print(f"read {len(snapshot.datasets)} datasets, {len(snapshot.tables)} tables in "
              f"{snapshot.requests} requests ({time.monotonic() - t0:.1f}s)", file=sys.stderr)
    p = _make_plan(args, desired, snapshot, sources)
    out = _render(p, args.format, _color(args))
    sys.stdout.write(out if out.endswith("\n") else out + "\n")
    if args.out:
        Path(args.out).write_text(_render(p, args.format, False), encoding="utf-8")
    return p.exit_code()


def cmd_snapshot(args) -> int:
    from reconcile.snapshot.read import read_snapshot

    desired = _load(args)
    adapter = connect(desired, args.target)
    snap = read_snapshot(adapter, desired, target=args.target)
    snap.save(args.out)
    print(f"snapshot of {desired.project}: {len(snap.datasets)} datasets, {len(snap.tables)} tables, "
          f"{snap.requests} requests -> {args.out}", file=sys.stderr)
    return EXIT_OK


def cmd_apply(args) -> int:
    from reconcile.apply import executor
    from reconcile.plan.planner import plan as make_plan
    from reconcile.snapshot.read import read_snapshot
    from reconcile.spec.sources import read_sources

    desired = _load(args)
    sources = read_sources(desired)
    run_id = executor.new_run_id()
    adapter = connect(desired, args.target, run_id=run_id)
    t0 = time.monotonic()
    snapshot = read_snapshot(adapter, desired, target=args.target)
    p = _make_plan(args, desired, snapshot, sources)
    color = _color(args)
    sys.stdout.write(_render(p, "text", color))
    if not p.changes:
        print("Nothing to apply.")
        return p.exit_code()
    print(f"\nApplying {len(p.changes)} change(s), run {run_id}" + (" (dry run)" if args.dry_run else ""))
    if args.break_lease and not args.dry_run:
        executor.break_lease(adapter, desired, args.break_lease)
        print(f"Lease of run {args.break_lease} removed.", flush=True)
    with contextlib.ExitStack() as held:
        if not args.dry_run and _wait_for_lease(held, executor, adapter, desired, run_id, args.wait_lease):
            # Another run held the lease and may have done some of this plan's work: the
            # plan made before waiting is stale, so it is made again under the lease.
            snapshot = read_snapshot(adapter, desired, target=args.target)
            p = _make_plan(args, desired, snapshot, read_sources(desired))
            print(f"Re-planned after waiting for the lease: {len(p.changes)} change(s) left", flush=True)
            if p.changes:
                sys.stdout.write(_render(p, "text", color))
        if p.changes:
            result = executor.apply(p, desired, adapter, run_id=run_id, dry_run=args.dry_run,
                                    progress=lambda m: print(m, flush=True))
        else:
            result = executor.ApplyResult(run_id=run_id, outcomes=(), ok=True)
    failed = [o for o in result.outcomes if o.status == "failed"]
    for o in failed:
        print(f"FAILED {o.key}: {o.detail}")
    if args.dry_run:
        return p.exit_code()
    after = read_snapshot(adapter, desired, target=args.target)
    p2 = make_plan(desired, after, read_sources(desired), approvals=args.approve_relocation,
                   allow_destructive=args.allow_destructive)
    done = sum(1 for o in result.outcomes if o.status == "done")
    print(f"\nApplied {done} action(s) in {time.monotonic() - t0:.1f}s; "
          f"{len(failed)} failed. Re-reading the warehouse:")
    if p2.changes or p2.blocked:
        sys.stdout.write(_render(p2, "text", color))
    else:
        print("Converged: the warehouse matches the desired state.")
    # A failed gate is "needs attention" (3), like a refused change; any other failure is an error.
    if any(o.kind != "Validate" for o in failed):
        return EXIT_ERROR
    return EXIT_BLOCKED if failed else p2.exit_code()


def _wait_for_lease(held: contextlib.ExitStack, executor, adapter, desired, run_id: str,
                    wait_seconds: float) -> bool:
    """Take the project's apply lease into `held`. Returns True if another run held it and
    this one waited (then the plan must be made again), False if it was free. Raises
    LeaseHeld if it is not free after `wait_seconds`."""
    try:
        held.enter_context(executor.lease(adapter, desired, run_id))
        return False
    except executor.LeaseHeld as e:
        if wait_seconds <= 0:
            raise
        print(f"Waiting up to {wait_seconds:g}s for the lease: run {e.holder} holds it since {e.since}",
              flush=True)
    held.enter_context(executor.lease(adapter, desired, run_id, wait_seconds=wait_seconds))
    return True


def cmd_demo(args) -> int:
    if args.demo_command != "seed":
        raise CliError("demo: expected 'seed'")
    from reconcile.demo.seed import seed

    desired = _load(args)
    adapter = connect(desired, args.target)
    t0 = time.monotonic()
    counts = seed(adapter, Path(desired.root) / desired.staging_dir, progress=print)
    print(f"seeded {len(counts)} legacy tables ({sum(counts.values()):,} rows) in "
          f"{time.monotonic() - t0:.1f}s")
    return EXIT_OK


def _age(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def cmd_local(args) -> int:
    import json

    from reconcile.local import stack

    if args.local_command not in ("up", "down", "status"):
        raise CliError("local: expected 'up', 'down' or 'status'")
    desired = _load(args)
    root = Path(desired.root)
    if args.local_command == "up":
        stack.up(root, desired.project, port=args.port, progress=lambda m: print(m, flush=True))
    elif args.local_command == "down":
        stack.down(root, progress=print)
    elif args.api_url:
        url = stack.api_url(root)
        if url is None:
            print("error: the local Prefect server is not running (reconcile local up)", file=sys.stderr)
            return EXIT_ERROR
        print(url)
    else:
        st = stack.status(root)
        print(json.dumps(st, indent=2) if args.json else stack.format_status(st))
    return EXIT_OK


def cmd_spec_diff(args) -> int:
    from reconcile.review import specdiff

    return specdiff.run(args)


def cmd_lint(args) -> int:
    from reconcile.review import lint

    return lint.run(args)


def cmd_pr_comment(args) -> int:
    from reconcile.review import prcomment

    return prcomment.run(args)


def cmd_status(args) -> int:
    from reconcile.monitor import status

    return status.run(args)


COMMANDS = {"plan": cmd_plan, "apply": cmd_apply, "snapshot": cmd_snapshot, "demo": cmd_demo,
            "local": cmd_local, "spec-diff": cmd_spec_diff, "lint": cmd_lint, "pr-comment": cmd_pr_comment,
            "status": cmd_status}


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return EXIT_ERROR
    logging.basicConfig(level=logging.INFO if getattr(args, "verbose", False) else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        return COMMANDS[args.command](args)
    except SpecError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_ERROR
    except (CliError, TargetError) as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_ERROR
    except Exception as e:  # noqa: BLE001 - the last line of defence: one line, exit 1
        from reconcile.bq.adapter import BigQueryError

        if isinstance(e, BigQueryError) or type(e).__module__.startswith("google"):
            print(f"error: BigQuery: {str(e).splitlines()[0]}", file=sys.stderr)
            return EXIT_ERROR
        if isinstance(e, (RuntimeError, OSError)):
            print(f"error: {e}", file=sys.stderr)
            return EXIT_ERROR
        raise


if __name__ == "__main__":
    sys.exit(main())
