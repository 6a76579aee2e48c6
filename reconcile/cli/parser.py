"""The `reconcile` command line's arguments: one parser, its help, and usage errors.

A usage error (an unknown command or option, a bad choice) exits 1 with a "did you
mean" suggestion, never argparse's 2, which `plan` uses for "changes pending".
"""

from __future__ import annotations

import argparse
import difflib
import os
import re
import sys
from importlib import metadata

DEFAULT_SPEC = "desired_state/cbi-v14.yaml"
EXIT_USAGE = 1


def version() -> str:
    try:
        return metadata.version("bq-reconcile")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "unknown"


def suggest(value: str, choices, n: int = 3) -> str:
    """'; did you mean X or Y?' for the closest valid names, or ''."""
    close = difflib.get_close_matches(value, list(dict.fromkeys(choices)), n=n, cutoff=0.6)
    return f"; did you mean {' or '.join(close)}?" if close else ""


class Parser(argparse.ArgumentParser):
    """argparse, with usage errors exiting 1 and suggesting the closest choice."""

    def _all_options(self) -> list[str]:
        """Option strings of this parser and of every subcommand below it."""
        out = []
        for a in self._actions:
            out += a.option_strings
            if isinstance(a, argparse._SubParsersAction):
                for sub in dict.fromkeys(a.choices.values()):
                    out += sub._all_options() if isinstance(sub, Parser) else []
        return out

    def error(self, message: str):  # type: ignore[override]
        m = re.search(r"invalid choice: '([^']*)' \(choose from (.*)\)", message)
        if m:
            message += suggest(m.group(1), [c.strip(" '\"") for c in m.group(2).split(",")])
        m = re.search(r"unrecognized arguments: (\S+)", message)
        if m:
            message += suggest(m.group(1).split("=")[0], self._all_options())
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


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


def _plain(p: argparse.ArgumentParser) -> None:
    """--no-color on a command whose report is never coloured: accepted, so that one flag
    works on every command (a script or alias that passes it everywhere is not refused)."""
    p.add_argument("--no-color", action="store_true", help="accepted for uniformity: this report is never coloured")


def _selection(p: argparse.ArgumentParser, *, approve: str, only: str) -> None:
    """What plan and apply share: approvals, the destructive allow, the --only selector."""
    p.add_argument("--approve-relocation", action="append", default=[], metavar="DATASET", help=approve)
    p.add_argument("--allow-destructive", action="append", nargs="?", const="replace", default=[],
                   metavar="replace:TABLE|delete:DATASET|replace|delete",
                   help="allow a destructive step the plan names: replace:DATASET.TABLE, delete:DATASET "
                        "(an archive source; the spec must also say delete_sources: true), or every "
                        "step of a kind (replace, delete); repeatable; bare: replace (never deletes)")
    p.add_argument("--only", action="append", default=[], metavar="KIND_OR_OBJECT", help=only)
    p.add_argument("--parallelism", type=_positive_int, default=10, metavar="N",
                   help="requests (snapshot queries, apply actions) in flight at once; apply runs an "
                        "action once the actions it depends on ended (default: 10, as Terraform; 1: in order)")


def _positive_int(value: str) -> int:
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {value!r}") from None
    if not 1 <= n <= 64:
        raise argparse.ArgumentTypeError(f"must be between 1 and 64, got {n}")
    return n


def build_parser() -> Parser:
    parser = Parser(
        prog="reconcile",
        description="Keep a BigQuery project in its declared state: read the live warehouse, "
                    "show what differs, and run only that difference.",
        epilog="Exit codes: 0 in sync, 2 changes pending, 3 blocked (approval needed, gate failed, "
               "source missing), 1 error. Docs: README.md.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("plan", help="show what differs and what apply would do (changes nothing)")
    _common(p)
    p.add_argument("--snapshot", metavar="FILE",
                   help="plan offline against a saved snapshot (no credentials, no BigQuery)")
    _selection(p, approve="plan the recreation of this wrong-region dataset (repeatable)",
               only="restrict to action kinds (e.g. MergeLoad) or objects (dataset or dataset.table)")
    p.add_argument("--out", metavar="FILE", help="also write the report to FILE")
    p.add_argument("--out-plan", metavar="FILE",
                   help="save the plan (versioned JSON, with a fingerprint of what it depends on) "
                        "for `reconcile apply FILE`")

    p = sub.add_parser("apply", help="plan (or take a saved plan), confirm, run the difference, "
                                     "check it converged",
                       epilog="Exit codes: 0 converged, 3 something needs a human (blocked items, a "
                              "failed gate), 1 error (a failed action, a refused or stale saved plan, "
                              "no approval).")
    p.add_argument("plan_file", nargs="?", metavar="PLAN",
                   help="a plan saved by `reconcile plan --out-plan`: apply exactly it, after checking "
                        "that the spec and what it depends on in the warehouse did not change")
    _common(p)
    p.add_argument("--auto-approve", action="store_true",
                   help="do not ask for confirmation (needed when stdin is not a terminal)")
    p.add_argument("--results", metavar="FILE",
                   help="write the run result as JSON (like dbt's run_results.json)")
    _selection(p, approve="recreate this wrong-region dataset in its declared region, data carried over "
               "(repeatable)", only="restrict to action kinds or objects")
    p.add_argument("--dry-run", action="store_true", help="print what would run, change nothing")
    p.add_argument("--break-lease", metavar="RUN_ID",
                   help="first remove the lease of a run that died (e.g. killed) — a human decision")
    p.add_argument("--force", action="store_true",
                   help="with --break-lease: break it even if its holder renewed it recently (it is running)")
    p.add_argument("--wait-lease", type=float, default=0, metavar="SECONDS",
                   help="wait this long for another apply on the project to finish (default: exit at once)")

    p = sub.add_parser("snapshot", help="read the live state and write it as JSON")
    _common(p, fmt=False)
    p.add_argument("--out", metavar="FILE", required=True, help="where to write the snapshot JSON")

    p = sub.add_parser("status", help="health from the monitoring views: row counts, coverage, regimes, "
                                      "ingestion, latest gate results")
    _common(p)

    p = sub.add_parser("refs", help="what still reads a legacy dataset: live views and routines, the spec's "
                                    "SQL, scanned files; --fix rewrites SQL files",
                       epilog="Exit codes: 0 no reference remains (waived ones aside), 3 references "
                              "remain, 1 error. Docs: docs/references.md.")
    _common(p)
    p.add_argument("--snapshot", metavar="FILE",
                   help="read views and routines from a saved snapshot (no credentials, no BigQuery)")
    p.add_argument("--fix", action="store_true",
                   help="rewrite the SQL files that name a migrated table to its new name, through the "
                        "parser, and print the diff (files inside the project only; never live views)")

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
    _plain(p)
    p = sub.add_parser("lint", help="check the spec against the migration plan's success rules")
    p.add_argument("--spec", default=os.environ.get("RECONCILE_SPEC", DEFAULT_SPEC), help=spec_help)
    p.add_argument("--format", choices=("text", "markdown", "json"), default="text")
    p.add_argument("-v", "--verbose", action="store_true", help="log more")
    _plain(p)
    p = sub.add_parser("pr-comment", help="one Markdown PR comment: spec diff, lint, offline plan")
    p.add_argument("--base", required=True, metavar="REF", help="git ref the PR merges into (e.g. origin/main)")
    p.add_argument("--snapshot", metavar="FILE", help="saved snapshot to plan against offline")
    p.add_argument("--spec", default=os.environ.get("RECONCILE_SPEC", DEFAULT_SPEC), help=spec_help)
    p.add_argument("--out", metavar="FILE", help="write the comment to FILE (default: stdout)")
    p.add_argument("-v", "--verbose", action="store_true", help="log more")
    _plain(p)

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
            s.add_argument("--format", choices=("text", "json"), default="text",
                           help="report format (default: text)")
            s.add_argument("--json", action="store_true", help=argparse.SUPPRESS)  # old spelling
        _plain(s)
    return parser
