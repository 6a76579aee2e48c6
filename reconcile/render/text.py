"""A plan as a terminal report, `terraform plan`-like: actions grouped by dataset,
one line each, then totals. ANSI colour only when asked for (the CLI passes
`isatty()`). Pure: builds a string; no I/O, no clock, no environment.
"""

from __future__ import annotations

from reconcile.plan.actions import Plan, Unmanaged
from reconcile.render.describe import some, stakes_text
from reconcile.render.items import Item, change_phrases, describe_all, tally
from reconcile.render.safe import printable
from reconcile.render.units import count

# More unmanaged objects than this in one dataset are folded into one line.
_UNMANAGED_FOLD_AFTER = 3

_LEGEND = {
    "+": "create", "~": "change", "⇢": "copy or load", "=": "validate",
    "!": "destructive", "-": "delete", "✗": "blocked", "?": "diagnostic",
}
_RESET = "\x1b[0m"
_STYLE = {
    "+": "\x1b[32m", "~": "\x1b[33m", "⇢": "\x1b[36m", "=": "\x1b[34m",
    "!": "\x1b[1;31m", "-": "\x1b[1;31m", "✗": "\x1b[1;31m", "?": "\x1b[35m",
    "header": "\x1b[1m", "dim": "\x1b[2m", "blocked": "\x1b[31m", "total": "\x1b[1m",
}


def render_text(plan: Plan, *, color: bool = False) -> str:
    """A terminal report: actions grouped by dataset (sorted), one line each, then totals."""
    described = describe_all(plan, "render_text")

    def paint(style: str, s: str) -> str:
        return f"{_STYLE[style]}{s}{_RESET}" if color else s

    header = f"Plan for {plan.project}"
    if plan.snapshot_taken_at:
        header += f" (snapshot {plan.snapshot_taken_at})"
    lines = [paint("header", header)]

    used = []
    for it in described:
        if it.symbol not in used:
            used.append(it.symbol)
    if used:
        legend = ", ".join(f"{paint(s, s)} {_LEGEND[s]}" for s in _LEGEND if s in used)
        lines.append(f"Symbols: {legend}")

    groups: dict[str, list[Item]] = {}
    for it in described:
        groups.setdefault(it.action.dataset, []).append(it)
    # Sorted by name; actions without a dataset (a transform with no outputs) go last.
    for dataset in sorted(groups, key=lambda d: (d == "", d)):
        lines.append("")
        lines.append(paint("header", printable(dataset) if dataset else "(no dataset)"))
        group = groups[dataset]
        unmanaged = [it for it in group if isinstance(it.action, Unmanaged)]
        fold = len(unmanaged) > _UNMANAGED_FOLD_AFTER
        for it in group:
            if fold and isinstance(it.action, Unmanaged):
                continue
            text = f"  {paint(it.symbol, it.symbol)} {it.line.text}"
            stakes = stakes_text(it.action.stakes)
            if stakes:
                text += "  " + paint("dim", f"[{stakes}]")
            lines.append(text)
            if it.action.blocked_by:
                lines.append("      " + paint("blocked", "blocked by: " + printable(", ".join(it.action.blocked_by))))
        if fold:
            lines.append(f"  {paint('?', '?')} " + _folded_unmanaged(dataset, unmanaged))

    if plan.notes:
        lines.append("")
        lines.append("Notes:")
        lines.extend(f"  - {printable(note)}" for note in plan.notes)

    t = tally(plan, described)
    lines.append("")
    if t.changes or t.blocked:
        parts = ", ".join(change_phrases(t)) or "no changes"
        if t.blocked:
            parts += f"; {t.blocked:,} blocked (need approval or attention)"
        if t.unmanaged:
            parts += f"; {t.unmanaged:,} unmanaged (not touched)"
        if plan.known_gaps:
            parts += f"; {len(plan.known_gaps):,} known gap(s) on this target (reported, not blocking)"
        lines.append(paint("total", f"Plan: {parts}."))
    else:
        if t.unmanaged:
            lines.append(f"{t.unmanaged:,} unmanaged (not touched).")
        if plan.known_gaps:
            lines.append(f"{len(plan.known_gaps):,} known gap(s) on this target (declared in the spec "
                         "with reasons; reported, not blocking).")
        lines.append(paint("total", "In sync: nothing to do."))
    return "\n".join(lines) + "\n"


def _folded_unmanaged(dataset: str, group: list[Item]) -> str:
    objects = [it.action for it in group if isinstance(it.action, Unmanaged)]
    by_type: dict[str, int] = {}
    for a in objects:
        by_type[a.object_type] = by_type.get(a.object_type, 0) + 1
    kinds = ", ".join(count(n, t) for t, n in sorted(by_type.items()))
    # Unmanaged objects put nothing at stake (never touched), so their size is read
    # from the action itself rather than from `stakes`.
    rows = sum(a.rows for a in objects)
    names = [printable(a.object.removeprefix(f"{dataset}.")) for a in objects]
    return (f"{len(objects):,} unmanaged ({kinds}; {count(rows, 'row')}): "
            f"{some(names, limit=_UNMANAGED_FOLD_AFTER)}: not touched")
