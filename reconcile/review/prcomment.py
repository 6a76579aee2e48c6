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
What the comment is made from, and reading it, is `prinput` (`gather`); what
needs attention per object, and the few words that say what blocks an action,
is `attention`.
"""

from __future__ import annotations

import datetime as dt
import sys
from functools import partial
from pathlib import Path

from reconcile.plan.actions import Action, Plan
from reconcile.render.items import change_phrases, describe_all, tally
from reconcile.render.md import cell, code
from reconcile.render.plan import describe
from reconcile.render.units import human_age
from reconcile.review.attention import attention, short_reason
from reconcile.review.lint import violation_rows, waived_and_warnings
from reconcile.review.prinput import CommentInput, PlanInput, gather, without_missing_staging
from reconcile.review.specdiff import CHANGE_HEAD, Change, change_row

__all__ = ["BUDGET", "LIMIT", "MARKER", "CommentInput", "PlanInput", "build_comment", "exit_code",
           "gather", "run", "summary_line", "without_missing_staging"]

MARKER = "<!-- reconcile-pr-comment -->"
# GitHub refuses a comment body of 65,536 characters or more; measured in UTF-8
# bytes (never fewer than characters), with room to spare for the posting step.
LIMIT = 65_536
BUDGET = LIMIT - 512

# Caps tried in turn until the comment fits: (attention rows, rows per action
# kind, spec changes, lint rows, actions this PR removes).
_CAPS = ((30, 25, 60, 30, 20), (25, 10, 30, 20, 10), (20, 5, 15, 10, 5), (15, 2, 8, 5, 3),
         (10, 0, 5, 3, 0))


# Review reports escape `*` (globs such as `*_backup_*` are common): see render.md.
_md = partial(cell, emphasis=True)
# A name longer than this is cut (inline code).
_NAME_CHARS = 120


def _n(x: int | None) -> str:
    return "?" if x is None else f"{x:,}"


# =========================================================================== composing


def _plan_phrases(p: Plan) -> tuple[list[str], list[Action]]:
    """The plan's changes in words, as the plan renderers total them, and what is blocked."""
    return change_phrases(tally(p, describe_all(p, "pr-comment"))), list(p.blocked)


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
    about = f"Spec {code(c.spec, _NAME_CHARS)}: base {code(c.base_ref, _NAME_CHARS)} → this PR."
    if c.plan is not None:
        taken = dt.datetime.fromisoformat(c.plan.taken_at)
        age = human_age((now - taken).total_seconds())
        about += (f" Offline plan against snapshot {code(c.plan.snapshot_file, _NAME_CHARS)} taken "
                  f"{_md(c.plan.taken_at)} (**{age} old**): the warehouse may have changed since.")
        if c.plan.fingerprint:
            about += (f" Plan fingerprint {code(c.plan.fingerprint, _NAME_CHARS)} (`reconcile plan "
                      f"--snapshot FILE --out-plan` stamps the same plan alike; `reconcile apply` of a saved "
                      f"plan refuses it if the warehouse changed).")
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
    att = attention(c)
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
            out.append(f"| {mark} | {code(it.object, _NAME_CHARS)} | {why} | {_n(it.tables)} | "
                       f"{_n(it.rows)} |")
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
                    out.append(f"| {mark.strip()} | {code(a.target, _NAME_CHARS)} | "
                               f"{_md(describe(a), 240)} | {a.stakes.tables:,} | {a.stakes.rows:,} |")
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
        out.append(f"The spec did not exist at {code(c.base_ref, _NAME_CHARS)}: everything is new.")
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
    out += violation_rows(lr, cap_lint)
    if lr.violations:
        out += ["", "Waive one for an object, with a reason, in the spec: "
                    "`waivers: [{rule: RULE, object: OBJECT, reason: WHY}]`."]
    out += waived_and_warnings(lr, cap_lint, name=lambda o: code(o, _NAME_CHARS), count=lambda n: f"{n:,}",
                               text=_md)

    if c.command:
        out += ["", f"<sub>Generated by {code(c.command, 300)}. Exit codes: 0 nothing, 2 changes, "
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
