"""A plan as Markdown, for pull-request comments and Prefect artifacts.

What is blocked or destructive comes first, then a table of counts and stakes per
kind, then one folded `<details>` table per kind. The output always stays under
GitHub's 65,536-character comment limit, however large the plan: sections are
fitted into the budget (`_fit`), cutting a table between rows when it must and
saying what was left out. Pure: builds a string; no I/O, no clock, no environment.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from reconcile.plan.actions import Action, Plan
from reconcile.render.describe import stakes_text
from reconcile.render.items import KIND_ORDER, Item, change_phrases, describe_all, tally
from reconcile.render.md import cell

# GitHub rejects a comment body of 65,536 characters or more. The Markdown is
# measured in UTF-8 bytes, never fewer than characters, so the bound holds
# whichever of the two the consumer counts.
MARKDOWN_LIMIT = 65_536

# A Markdown cell longer than this is cut: one huge value must not eat the budget.
_CELL_CHARS = 300


def _size(lines: Sequence[str]) -> int:
    return sum(len(line.encode("utf-8")) + 1 for line in lines)


@dataclass
class _Section:
    """Lines before a table's rows, the rows, and lines after; cut between rows if need be."""

    head: list[str]
    rows: list[str] = field(default_factory=list)
    hidden: int = 0  # rows left out already (max_rows_per_kind)
    foot: list[str] = field(default_factory=list)
    required: bool = False  # always emitted whole (small and bounded)

    def lines(self, shown: int) -> list[str]:
        out = self.head + self.rows[:shown]
        more = self.hidden + len(self.rows) - shown
        if more:
            out.append("")
            out.append(f"… and {more:,} more")
        return out + self.foot


_ROW_HEAD = ["| | object | action | stakes | attention |", "|---|---|---|---|---|"]


def _md_row(it: Item) -> str:
    reasons = list(it.action.blocked_by)
    if it.action.needs_attention:
        reasons.append("needs a decision")
    if it.action.destructive:
        reasons.append("destructive")
    cells = [it.symbol, *(cell(v, _CELL_CHARS) for v in (
        it.action.target, it.line.text, stakes_text(it.action.stakes), "; ".join(reasons)))]
    return "| " + " | ".join(cells) + " |"


def _ui_row(it: Item) -> str:
    """The same as `_md_row`, as a list item: the Prefect UI clips wide tables and never
    wraps a cell; a list item wraps."""
    reasons = list(it.action.blocked_by)
    if it.action.needs_attention:
        reasons.append("needs a decision")
    if it.action.destructive:
        reasons.append("destructive")
    stakes = stakes_text(it.action.stakes)
    tail = "; ".join(x for x in (stakes, "; ".join(reasons)) if x)
    # The symbol in bold: a bare `+` or `-` after the bullet would start a nested list.
    return (f"- **{it.symbol}** `{cell(it.action.target, _CELL_CHARS)}`: {cell(it.line.text, _CELL_CHARS)}"
            + (f" — {cell(tail, _CELL_CHARS)}" if tail else ""))


# What a plan's exit code means, for readers who never see the CLI (the Prefect UI).
VERDICT = {0: "in sync", 2: "changes pending", 3: "needs a decision", 1: "error"}


def render_markdown(plan: Plan, *, max_rows_per_kind: int = 50, for_ui: bool = False) -> str:
    """Markdown for a PR comment or a Prefect artifact, always under MARKDOWN_LIMIT.

    `for_ui`: the Prefect artifact: the verdict in words instead of the CLI's exit code,
    and each action a wrapping list item instead of a table row (the UI clips wide tables).

    Order: a one-line summary, then what is blocked or destructive, then a table of
    counts and stakes per kind, then one folded `<details>` table per kind.
    """
    if max_rows_per_kind < 0:
        raise ValueError("max_rows_per_kind must be >= 0")
    row, row_head = (_ui_row, []) if for_ui else (_md_row, _ROW_HEAD)
    described = describe_all(plan, "render_markdown")
    t = tally(plan, described)
    attention = [it for it in described if it.action.is_blocked or it.action.destructive]

    sections: list[_Section] = []

    if t.changes or t.blocked:
        phrases = change_phrases(t)
        if t.blocked:
            phrases.append(f"{t.blocked:,} blocked")
        summary = f"**{', '.join(phrases)}**"
        first_blocked = next((it for it in described if it.action.is_blocked), None)
        if first_blocked is not None:
            summary += f": {cell(first_blocked.line.text, _CELL_CHARS)}"
            if t.blocked > 1:
                summary += f" (and {t.blocked - 1:,} more blocked)"
    else:
        summary = "**In sync: nothing to do.**"
    about = f"Project {cell(plan.project, _CELL_CHARS)}"
    if plan.snapshot_taken_at:
        about += f", snapshot {cell(plan.snapshot_taken_at, _CELL_CHARS)}"
    about += (f", {VERDICT.get(plan.exit_code(), 'error')}" if for_ui else f", exit code {plan.exit_code()}")
    if t.unmanaged:
        about += f"; {t.unmanaged:,} unmanaged objects (not touched)"
    if plan.known_gaps:
        about += f"; {len(plan.known_gaps):,} known gaps on this target (reported, not blocking)"
    sections.append(_Section([summary, "", about + "."], required=True))

    if attention:
        shown = attention[:max_rows_per_kind]
        sections.append(_Section(
            ["", f"### Blocked or destructive ({len(attention):,})", "", *row_head],
            [row(it) for it in shown], len(attention) - len(shown)))

    by_kind: dict[type[Action], list[Item]] = {}
    for it in described:
        by_kind.setdefault(type(it.action), []).append(it)
    kinds = sorted(by_kind, key=lambda cls: KIND_ORDER[cls])

    if described:
        table = ["", "### Summary", "",
                 "| kind | count | tables at stake | rows at stake |", "|---|--:|--:|--:|"]
        total = [0, 0, 0]
        for cls in kinds:
            group = by_kind[cls]
            tables = sum(it.action.stakes.tables for it in group)
            rows = sum(it.action.stakes.rows for it in group)
            total = [total[0] + len(group), total[1] + tables, total[2] + rows]
            table.append(f"| {cls.__name__} | {len(group):,} | {tables:,} | {rows:,} |")
        table.append(f"| **total** | **{total[0]:,}** | **{total[1]:,}** | **{total[2]:,}** |")
        sections.append(_Section(table, required=True))

    for cls in kinds:
        group = by_kind[cls]
        shown = group[:max_rows_per_kind]
        sections.append(_Section(
            ["", f"<details><summary>{cls.__name__} ({len(group):,})</summary>", "", *row_head],
            [row(it) for it in shown], len(group) - len(shown), ["", "</details>"]))

    if plan.notes:
        sections.append(_Section(["", "### Notes", ""], [f"- {cell(n, _CELL_CHARS)}" for n in plan.notes]))

    return _fit(sections, MARKDOWN_LIMIT - 1)


_TRUNCATED = ("_Truncated to stay under {limit:,} characters: {rows:,} table rows and "
              "{sections:,} sections left out. The JSON rendering lists every action._")


def _fit(sections: list[_Section], limit: int) -> str:
    """Join sections within `limit` bytes, cutting a table between rows when it must."""
    note_size = _size(["", _TRUNCATED.format(limit=MARKDOWN_LIMIT, rows=10**9, sections=10**9)])
    required_left = sum(_size(s.lines(len(s.rows))) for s in sections if s.required)
    budget = limit - 1 - note_size  # 1: the trailing newline
    out: list[str] = []
    used = 0
    cut_rows = cut_sections = 0
    truncated = False
    for s in sections:
        whole = s.lines(len(s.rows))
        if s.required:
            required_left -= _size(whole)
            out += whole
            used += _size(whole)
            continue
        room = budget - used - required_left
        if truncated:
            cut_sections += 1
            cut_rows += len(s.rows)
            continue
        if _size(whole) <= room:
            out += whole
            used += _size(whole)
            continue
        truncated = True
        # Rows are added one at a time (not re-measured) so a huge table stays linear.
        shown, size = 0, _size(s.lines(0))  # lines(0) carries the longest "… and N more"
        while shown < len(s.rows) and size + _size(s.rows[shown:shown + 1]) <= room:
            size += _size(s.rows[shown:shown + 1])
            shown += 1
        if shown == 0:
            cut_sections += 1
            cut_rows += len(s.rows)
            continue
        part = s.lines(shown)
        out += part
        used += _size(part)
        cut_rows += len(s.rows) - shown
    if truncated:
        out += ["", _TRUNCATED.format(limit=MARKDOWN_LIMIT, rows=cut_rows, sections=cut_sections)]
    text = "\n".join(out) + "\n"
    # The budget arithmetic above is the design; this is the promise.
    assert len(text.encode("utf-8")) <= limit, "render_markdown exceeded its limit"
    return text
