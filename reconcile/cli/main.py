"""The `reconcile` command line: plan, apply, snapshot, demo seed.

Reads the spec and the staging files first and stops with one clear message
(file and field, exit 1) before anything is sent to BigQuery. Exit codes follow
`terraform plan -detailed-exitcode` and migra: 0 in sync, 2 changes pending,
3 blocked (approval needed, gate failed, source missing), 1 error.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from pathlib import Path

from reconcile.bq.targets import TargetError, connect
from reconcile.apply.session import ScopeError
from reconcile.cli.apply import ApplyRefused, scope_of
from reconcile.cli.parser import build_parser
from reconcile.spec.load import load_spec
from reconcile.spec.model import DesiredState, SpecError

log = logging.getLogger("reconcile")

EXIT_OK, EXIT_ERROR, EXIT_CHANGES, EXIT_BLOCKED = 0, 1, 2, 3


class _PeopleFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return f"{record.levelname.lower()}: {record.getMessage()}"


class CliError(Exception):
    pass


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


def cmd_plan(args) -> int:
    from reconcile.apply.session import check_selectors, make_plan
    from reconcile.render.units import human_age
    from reconcile.snapshot.model import Snapshot
    from reconcile.snapshot.read import read_remembering
    from reconcile.spec.sources import gate_unloaded, read_sources_unchecked

    desired = _load(args)
    # Every staging file read and hashed now (bad input stops here); gated below, after
    # the snapshot, unless the load ledger has its hash already.
    sources = read_sources_unchecked(desired)
    scope = scope_of(args, desired)
    if args.snapshot:
        snapshot = Snapshot.load(args.snapshot)
        if snapshot.project != desired.project:
            raise CliError(f"{args.snapshot}: project: snapshot is of {snapshot.project!r}, "
                           f"spec is {desired.project!r}")
        age = snapshot.age()
        print(f"planning offline against snapshot {args.snapshot} taken {snapshot.taken_at} "
              f"({human_age(age.total_seconds(), compact=True)} ago)", file=sys.stderr)
    else:
        adapter = connect(desired, args.target)
        t0 = time.monotonic()
        snapshot = read_remembering(adapter, desired, target=args.target, parallelism=args.parallelism)
        print(f"read {len(snapshot.datasets)} datasets, {len(snapshot.tables)} tables in "
              f"{snapshot.requests} requests ({time.monotonic() - t0:.1f}s)", file=sys.stderr)
    check_selectors(scope, desired, snapshot)
    sources = gate_unloaded(desired, sources, snapshot.loaded)
    p = make_plan(desired, snapshot, scope, sources)
    out = _render(p, args.format, _color(args))
    sys.stdout.write(out if out.endswith("\n") else out + "\n")
    if args.out:
        Path(args.out).write_text(_render(p, args.format, False), encoding="utf-8")
    if args.out_plan:
        import datetime as dt

        from reconcile.plan import saved

        text, fingerprint = saved.save(p, desired, snapshot, sources, target=args.target,
                                       approvals=scope.approvals, allow_destructive=scope.allow_destructive,
                                       only=scope.only,
                                       created_at=dt.datetime.now(dt.timezone.utc).isoformat())
        Path(args.out_plan).write_text(text, encoding="utf-8")
        print(f"Saved the plan to {args.out_plan} (fingerprint {fingerprint}). Apply exactly it with: "
              f"reconcile apply {args.out_plan}", file=sys.stderr)
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
    """The apply session, printed (reconcile.cli.apply)."""
    from reconcile.cli import apply

    return apply.run(args, render=_render, color=_color(args))


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


def cmd_refs(args) -> int:
    """What still reads a legacy dataset (reconcile.review.refs); --fix rewrites SQL files."""
    from reconcile.plan import references
    from reconcile.review import refs
    from reconcile.snapshot.model import Snapshot
    from reconcile.snapshot.read import read_snapshot

    desired = _load(args)
    if args.snapshot:
        snapshot = Snapshot.load(args.snapshot)
        if snapshot.project != desired.project:
            raise CliError(f"{args.snapshot}: project: snapshot is of {snapshot.project!r}, "
                           f"spec is {desired.project!r}")
    else:
        snapshot = read_snapshot(connect(desired, args.target), desired, target=args.target, references=True)
    found = references.find(desired, snapshot)
    if args.fix:
        # The diff on stdout, except beside a JSON report (which must stay one document).
        for _, diff in refs.fix(desired, found):
            (sys.stderr if args.format == "json" else sys.stdout).write(diff)
        desired = _load(args)  # the files as rewritten
        found = references.find(desired, snapshot)
    legacy = desired.legacy_datasets(snapshot.datasets)
    sys.stdout.write(refs.report(found, args.format, legacy, views_read=snapshot.routines is not None))
    return refs.exit_code(found)


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
        print(json.dumps(st, indent=2) if args.json or args.format == "json" else stack.format_status(st))
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
    from reconcile.monitor import report as status

    return status.run(args)


COMMANDS = {"plan": cmd_plan, "apply": cmd_apply, "snapshot": cmd_snapshot, "demo": cmd_demo,
            "local": cmd_local, "spec-diff": cmd_spec_diff, "lint": cmd_lint, "pr-comment": cmd_pr_comment,
            "status": cmd_status, "refs": cmd_refs}


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return EXIT_ERROR
    verbose = getattr(args, "verbose", False)
    before = list(logging.getLogger().handlers)
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    if not verbose:  # for people: "warning: ..." (-v keeps the logger's name, for whoever debugs)
        for h in logging.getLogger().handlers:
            if h not in before:  # only the handler set up here, never a host's (pytest, Prefect)
                h.setFormatter(_PeopleFormatter())
    try:
        return COMMANDS[args.command](args)
    except SpecError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_ERROR
    except (CliError, TargetError, ScopeError, ApplyRefused) as e:
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
