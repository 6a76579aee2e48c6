"""One Markdown comment for a pull request: spec diff, lint and the offline plan.

`reconcile pr-comment --base REF --snapshot FILE` is what CI posts on a pull
request that touches the desired state (see docs/pr-workflow.md). It combines:

- the spec diff between the base ref and the PR (specdiff.py),
- the policy lint of the PR's spec (lint.py),
- the plan of the PR's spec against the last saved snapshot of the warehouse,
  offline (no credentials), saying how old that snapshot is, and which planned
  actions this PR adds or removes compared with planning the base spec against
  the same snapshot.

Layout: a hidden marker (`<!-- reconcile-pr-comment -->`, so CI updates one
sticky comment), a summary line, then what needs attention (destructive spec
changes, blocked or destructive actions, lint violations), grouped per object
with the tables and rows at stake, then one table per action kind, details
folded in `<details>`. Lists are capped with counts, and the whole comment is
always shorter than GitHub's 65,536-character limit, whatever the plan's size.

`build_comment()` is pure (clock passed in); `run()` reads the files and git.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path

from reconcile.plan.actions import (
    Action, ExpectationFailed, FlagRecreate, FlagSchemaConflict, MigrateTable, MissingSource, Plan,
    RefuseLoad,
)
from reconcile.review.lint import LintReport, lint, lint_row, LINT_HEAD, read_sql
from reconcile.render.plan import VERBS, describe, describe_line
from reconcile.snapshot.model import Snapshot
from reconcile.review.specdiff import CHANGE_HEAD, Change, Side, SpecDiff, Stake, change_row, diff, read_base
from reconcile.spec.model import SpecError, load_spec

MARKER = "<!-- reconcile-pr-comment -->"
# GitHub refuses a comment body of 65,536 characters or more; measured in UTF-8
# bytes (never fewer than characters), with room to spare for the posting step.
LIMIT = 65_536
BUDGET = LIMIT - 512

# Caps tried in turn until the comment fits: (attention rows, rows per action
# kind, spec changes, lint rows, actions this PR removes).
_CAPS = ((30, 25, 60, 30, 20), (25, 10, 30, 20, 10), (20, 5, 15, 10, 5), (15, 2, 8, 5, 3),
         (10, 0, 5, 3, 0))


def human_age(seconds: float) -> str:
    if seconds < 0:
        return "in the future (check the clock)"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def _md(value: object, limit: int = 300) -> str:
    s = " ".join(str(value).split())
    if len(s) > limit:
        s = s[: limit - 1] + "…"
    s = s.replace("\\", "\\\\").replace("&", "&amp;").replace("<", "&lt;")
    for ch in "|`*":
        s = s.replace(ch, "\\" + ch)
    return s


def _code(value: object, limit: int = 120) -> str:
    s = " ".join(str(value).split()).replace("`", "'")
    if len(s) > limit:
        s = s[: limit - 1] + "…"
    return "`" + s.replace("|", "\\|") + "`"


def _n(x: int | None) -> str:
    return "?" if x is None else f"{x:,}"


# =========================================================================== inputs


@dataclass(frozen=True)
class PlanInput:
    plan: Plan
    snapshot_file: str
    taken_at: str
    base_plan: Plan | None = None  # the base spec against the same snapshot
    staging_missing: int = 0  # loads not planned: the staging folder is not in this checkout


@dataclass(frozen=True)
class CommentInput:
    project: str
    spec: str
    base_ref: str
    diff: SpecDiff
    lint: LintReport
    plan: PlanInput | None
    snapshot: Snapshot | None
    command: str = ""
    notes: tuple[str, ...] = field(default=())


def without_missing_staging(p: Plan) -> tuple[Plan, int]:
    """The plan with MissingSource actions for absent staging files removed, and the
    blocks they put on other actions lifted: used when the checkout has no staging
    folder at all (CI), where 'file not found' says nothing about the warehouse."""
    gone = {a.key for a in p.actions if isinstance(a, MissingSource)}
    if not gone:
        return p, 0
    kept = tuple(replace(a, blocked_by=tuple(b for b in a.blocked_by if b not in gone))
                 if set(a.blocked_by) & gone else a
                 for a in p.actions if a.key not in gone)
    return replace(p, actions=kept), len(gone)


def stake_size(stake: Stake, snap: Snapshot | None) -> tuple[int | None, int | None]:
    """(tables, rows) a spec change puts at stake, read from the snapshot."""
    if snap is None:
        return None, None
    if stake.kind == "dataset":
        return len(snap.tables_in(stake.name)), snap.dataset_rows(stake.name)
    if stake.kind == "table":
        t = snap.tables.get(stake.name)
        return (1, t.rows or 0) if t is not None else (0, 0)
    if stake.kind == "tables":
        refs = [r for r in snap.tables if fnmatch.fnmatchcase(r, stake.name)]
        return len(refs), sum(snap.tables[r].rows or 0 for r in refs)
    names = [d for d in snap.datasets if fnmatch.fnmatchcase(d, stake.name)]
    return (sum(len(snap.tables_in(d)) for d in names), sum(snap.dataset_rows(d) for d in names))


def short_reason(a: Action) -> str:
    """What blocks an action, in a few words (for the summary line)."""
    if isinstance(a, FlagRecreate):
        return f"{a.name} is in {a.actual_location}, must be in {a.desired_location}"
    if isinstance(a, FlagSchemaConflict):
        return f"{a.table}: incompatible schema change"
    if isinstance(a, RefuseLoad):
        return f"{a.source} refused by its gate"
    if isinstance(a, MissingSource):
        return f"{a.source} is missing"
    if isinstance(a, ExpectationFailed):
        return f"{a.table}: {a.check} expected {a.expected}, observed {a.observed}"
    if isinstance(a, MigrateTable) and a.replace_rows is not None:
        return f"replacing {a.destination} needs --allow-destructive"
    text = describe(a)
    return text if len(text) <= 100 else text[:99] + "…"


# =========================================================================== attention


@dataclass
class _Attention:
    object: str
    why: list[str] = field(default_factory=list)
    tables: int | None = None
    rows: int | None = None
    blocked: bool = False
    new: bool = False  # caused by this PR (spec change, or an action the base plan has not)

    def stake(self, tables: int | None, rows: int | None) -> None:
        if tables is not None:
            self.tables = max(self.tables or 0, tables)
        if rows is not None:
            self.rows = max(self.rows or 0, rows)


def _attention(c: CommentInput) -> list[_Attention]:
    items: dict[str, _Attention] = {}

    def get(obj: str) -> _Attention:
        return items.setdefault(obj, _Attention(obj))

    for ch in c.diff.destructive:
        objs = [s for s in ch.stakes if s.kind in ("dataset", "table")] or list(ch.stakes)
        names = [s.name for s in objs] or [ch.object]
        for i, name in enumerate(names):
            it = get(name)
            it.new = True
            it.why.append(f"spec ({ch.change}): " + "; ".join(ch.destructive))
            if i < len(objs):
                it.stake(*stake_size(objs[i], c.snapshot))
    if c.plan is not None:
        base_keys = {a.key for a in c.plan.base_plan.actions} if c.plan.base_plan else None
        for a in c.plan.plan.actions:
            if not (a.is_blocked or a.destructive):
                continue
            it = get(a.target)
            text = describe(a)
            if a.blocked_by and not a.needs_attention:
                text += " (blocked by " + ", ".join(a.blocked_by) + ")"
            it.why.append(("plan, blocked: " if a.is_blocked else "plan, destructive: ") + text)
            it.blocked |= a.is_blocked
            it.new |= base_keys is not None and a.key not in base_keys
            it.stake(a.stakes.tables, a.stakes.rows)
    for f in c.lint.violations:
        it = get(f.object)
        it.new = True
        it.why.append(f"lint {f.rule}: {f.message} ({f.file}: {f.field})")
    return sorted(items.values(), key=lambda i: (not i.new, -(i.rows or 0), -(i.tables or 0), i.object))


# =========================================================================== composing


def _plan_phrases(p: Plan) -> tuple[list[str], list[Action]]:
    by_verb = {v: 0 for v in VERBS}
    for a in p.changes:
        by_verb[describe_line(a).verb] += 1
    phrases = [(f"{n:,} transform{'s' if n != 1 else ''} to run" if v == "transform" else f"{n:,} to {v}")
               for v, n in by_verb.items() if n]
    destructive = sum(1 for a in p.changes if a.destructive)
    if destructive:
        phrases.append(f"{destructive:,} destructive")
    return phrases, list(p.blocked)


def summary_line(c: CommentInput) -> str:
    parts = []
    if c.plan is not None:
        phrases, blocked = _plan_phrases(c.plan.plan)
        text = ", ".join(phrases) if phrases else ("nothing to do" if not blocked else "")
        if blocked:
            worst = max(blocked, key=lambda a: (a.needs_attention, a.stakes.rows, a.stakes.tables))
            text += (", " if text else "") + f"{len(blocked):,} blocked: {short_reason(worst)}"
            if len(blocked) > 1:
                text += f" (and {len(blocked) - 1:,} more)"
        parts.append(f"**Plan: {_md(text, 400)}**")
    else:
        parts.append("**Plan: not computed (no snapshot)**")
    parts.append(f"**Spec: {_md(c.diff.summary())}**")
    parts.append(f"**Lint: {_md(c.lint.summary())}**")
    return " · ".join(parts)


def _compose(c: CommentInput, now: dt.datetime, caps: tuple[int, int, int, int, int]) -> list[str]:
    cap_att, cap_kind, cap_spec, cap_lint, cap_gone = caps
    out = [MARKER, f"## Reconcile: {_md(c.project)}", "", summary_line(c), ""]
    about = f"Spec {_code(c.spec)}: base {_code(c.base_ref)} → this PR."
    if c.plan is not None:
        taken = dt.datetime.fromisoformat(c.plan.taken_at)
        age = human_age((now - taken).total_seconds())
        about += (f" Offline plan against snapshot {_code(c.plan.snapshot_file)} taken "
                  f"{_md(c.plan.taken_at)} (**{age} old**): the warehouse may have changed since.")
    else:
        about += " No snapshot was given (`--snapshot FILE`): the plan is left out."
    out.append(about)
    notes = list(c.notes)
    if c.plan is not None and c.plan.staging_missing:
        notes.append(f"The staging folder is not in this checkout: {c.plan.staging_missing:,} load(s) are "
                     f"not planned here (their files are checked where they live).")
    if c.plan is not None:
        notes += list(c.plan.plan.notes)
    out += [f"- {_md(n)}" for n in notes]

    # ------------------------------------------------ needs attention
    att = _attention(c)
    if att:
        out += ["", f"### ⚠️ Needs attention ({len(att):,})", "",
                "Destructive spec changes, blocked or destructive actions and lint violations, per object: "
                "those this PR causes first (**new**), then by rows at stake. "
                "✗ blocked, ! destructive.", "",
                "| | object | why | tables | rows at stake |", "|---|---|---|--:|--:|"]
        for it in att[:cap_att]:
            mark = ("✗" if it.blocked else "!") + (" **new**" if it.new else "")
            why = " · ".join(_md(w, 260) for w in it.why[:4])
            if len(it.why) > 4:
                why += f" · … (+{len(it.why) - 4} more)"
            out.append(f"| {mark} | {_code(it.object)} | {why} | {_n(it.tables)} | {_n(it.rows)} |")
        if len(att) > cap_att:
            rest = att[cap_att:]
            out += ["", f"… and {len(rest):,} more needing attention "
                        f"({sum(i.rows or 0 for i in rest):,} rows at stake); the JSON reports list them all."]

    # ------------------------------------------------ plan
    if c.plan is not None:
        p = c.plan.plan
        base_keys = {a.key for a in c.plan.base_plan.actions} if c.plan.base_plan else None
        out += ["", "### Plan", "", f"{len(p.actions):,} actions, exit code {p.exit_code()}."]
        if base_keys is not None:
            head_keys = {a.key for a in p.actions}
            added = sum(1 for a in p.actions if a.key not in base_keys)
            gone = [a for a in c.plan.base_plan.actions if a.key not in head_keys]  # type: ignore[union-attr]
            out[-1] += (f" Compared with planning the base spec against the same snapshot, this PR adds "
                        f"{added:,} and removes {len(gone):,}.")
        else:
            gone = []
        by_kind: dict[str, list[Action]] = {}
        for a in p.actions:
            by_kind.setdefault(a.kind, []).append(a)
        if by_kind:
            out += ["", "| kind | count | new with this PR | blocked | tables at stake | rows at stake |",
                    "|---|--:|--:|--:|--:|--:|"]
            for kind, acts in by_kind.items():
                new = "?" if base_keys is None else f"{sum(1 for a in acts if a.key not in base_keys):,}"
                out.append(f"| {kind} | {len(acts):,} | {new} | {sum(a.is_blocked for a in acts):,} | "
                           f"{sum(a.stakes.tables for a in acts):,} | {sum(a.stakes.rows for a in acts):,} |")
            for kind, acts in by_kind.items():
                if cap_kind == 0:
                    break
                ordered = sorted(acts, key=lambda a: (not (a.is_blocked or a.destructive),
                                                      base_keys is None or a.key in base_keys))
                out += ["", f"<details><summary>{kind} ({len(acts):,})</summary>", "",
                        "| | object | action | tables | rows |", "|---|---|---|--:|--:|"]
                for a in ordered[:cap_kind]:
                    mark = ("✗" if a.is_blocked else "!" if a.destructive else "") + \
                        (" new" if base_keys is not None and a.key not in base_keys else "")
                    out.append(f"| {mark.strip()} | {_code(a.target)} | {_md(describe(a), 240)} | "
                               f"{a.stakes.tables:,} | {a.stakes.rows:,} |")
                if len(acts) > cap_kind:
                    out += ["", f"… and {len(acts) - cap_kind:,} more {kind}"]
                out += ["", "</details>"]
        if gone and cap_gone:
            out += ["", f"<details><summary>Planned on the base, no longer with this PR ({len(gone):,})</summary>",
                    ""]
            out += [f"- {_md(describe(a), 240)}" for a in gone[:cap_gone]]
            if len(gone) > cap_gone:
                out.append(f"- … and {len(gone) - cap_gone:,} more")
            out += ["", "</details>"]

    # ------------------------------------------------ spec diff
    d = c.diff
    out += ["", "### Spec diff", "", f"{_md(d.summary()[0].upper() + d.summary()[1:])}."]
    if d.base_missing:
        out.append(f"The spec did not exist at {_code(c.base_ref)}: everything is new.")
    if d.changes:
        ordered_changes: list[Change] = list(d.destructive) + [x for x in d.changes if not x.is_destructive]
        out += ["", f"<details{' open' if len(ordered_changes) <= 10 else ''}><summary>"
                    f"{len(ordered_changes):,} change(s), destructive first</summary>", "", *CHANGE_HEAD]
        out += [change_row(x) for x in ordered_changes[:cap_spec]]
        if len(ordered_changes) > cap_spec:
            out += ["", f"… and {len(ordered_changes) - cap_spec:,} more (`reconcile spec-diff --base "
                        f"{_md(c.base_ref)}` lists them all)"]
        out += ["", "</details>"]

    # ------------------------------------------------ lint
    lr = c.lint
    out += ["", "### Lint", "", f"{_md(lr.summary()[0].upper() + lr.summary()[1:])}."]
    if lr.violations:
        out += ["", *LINT_HEAD, *[lint_row(f) for f in lr.violations[:cap_lint]]]
        if len(lr.violations) > cap_lint:
            out += ["", f"… and {len(lr.violations) - cap_lint:,} more"]
        out += ["", "Waive one for an object, with a reason, in the spec: "
                    "`waivers: [{rule: RULE, object: OBJECT, reason: WHY}]`."]
    if lr.waived:
        out += ["", f"<details><summary>Waived ({len(lr.waived):,})</summary>", ""]
        out += [f"- {f.rule} for {_code(f.object)}: {_md(f.waived_because)}" for f in lr.waived[:cap_lint]]
        out += ["", "</details>"]
    out += [f"- warning: {_md(w)}" for w in lr.warnings[:cap_lint]]

    if c.command:
        out += ["", f"<sub>Generated by {_code(c.command, 300)}. Exit codes: 0 nothing, 2 changes, "
                    f"3 destructive, blocked or violations.</sub>"]
    return out


def _size(lines: list[str]) -> int:
    return len(("\n".join(lines) + "\n").encode("utf-8"))


def build_comment(c: CommentInput, *, now: dt.datetime) -> str:
    """The comment's Markdown. Pure. Always under LIMIT (65,536) characters and bytes."""
    lines: list[str] = []
    for caps in _CAPS:
        lines = _compose(c, now, caps)
        if _size(lines) <= BUDGET:
            return "\n".join(lines) + "\n"
    # Still too long (very long names): cut at a line boundary and close what is open.
    kept, size, open_details = [], 0, 0
    tail = ["", "_Truncated to stay under GitHub's comment limit: see the JSON reports._"]
    for line in lines:
        extra = len((line + "\n").encode("utf-8"))
        if size + extra + _size(tail) + 16 * (open_details + 1) > BUDGET:
            break
        kept.append(line)
        size += extra
        open_details += line.startswith("<details") - (line == "</details>")
    kept += ["", "</details>"] * max(open_details, 0) + tail
    return "\n".join(kept) + "\n"


def exit_code(c: CommentInput) -> int:
    codes = [c.diff.exit_code(), c.lint.exit_code()]
    if c.plan is not None:
        codes.append(c.plan.plan.exit_code())
    return 3 if 3 in codes else 2 if 2 in codes else 0


# =========================================================================== the command


def gather(spec: str, base_ref: str, snapshot_file: str | None, *, command: str = "") -> CommentInput:
    """Read everything the comment needs: specs (git), staging files, the snapshot."""
    from reconcile.plan.planner import plan as make_plan
    from reconcile.spec.sources import SourceManifest, read_sources

    desired = load_spec(spec)
    head = Side.read(desired)
    base = read_base(spec, base_ref)
    sd = diff(base, head, base_ref=base_ref)
    lr = lint(desired, head.origins, read_sql(desired))
    snap = None
    pin = None
    if snapshot_file:
        snap = Snapshot.load(snapshot_file)
        if snap.project != desired.project:
            raise SpecError(snapshot_file, "project", f"snapshot is of {snap.project!r}, "
                                                      f"spec is {desired.project!r}")
        have_staging = (Path(desired.root) / desired.staging_dir).is_dir()
        sources = read_sources(desired) if have_staging else SourceManifest()
        p = make_plan(desired, snap, sources)
        bp = None
        if base is not None:
            # Staging files are not versioned: the base's loads read them from this checkout.
            base_here = base.desired.model_copy(update={"root": desired.root})
            bp = make_plan(base.desired, snap, read_sources(base_here) if have_staging else SourceManifest())
        missing = 0
        if not have_staging:
            p, missing = without_missing_staging(p)
            if bp is not None:
                bp, _ = without_missing_staging(bp)
        pin = PlanInput(p, snapshot_file, snap.taken_at, bp, missing)
    return CommentInput(desired.project, sd.spec, base_ref, sd, lr, pin, snap, command)


def run(args) -> int:
    """`reconcile pr-comment`: write the comment (stdout or --out); exit 0 / 2 / 3."""
    cmd = f"reconcile pr-comment --base {args.base}" + (f" --snapshot {args.snapshot}" if args.snapshot else "")
    c = gather(args.spec, args.base, args.snapshot, command=cmd)
    text = build_comment(c, now=dt.datetime.now(dt.timezone.utc))
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
        print(f"PR comment ({len(text):,} characters) -> {args.out}: "
              f"{summary_line(c).replace('**', '')}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return exit_code(c)
