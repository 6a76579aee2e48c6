"""A spec diff as text (terminal), Markdown (PR comment, `--format markdown`) and JSON.
Markdown escaping is `reconcile.render.md` (review reports escape `*`). Pure."""

from __future__ import annotations

import json

from reconcile.render.md import cell, code
from reconcile.review.specdiff.model import SYMBOL, Change, SpecDiff

CHANGE_HEAD = ["| | section | object | change | details | destructive because |", "|---|---|---|---|---|---|"]
# A Markdown cell longer than this is cut; an object name, shorter.
_CELL, _NAME = 300, 160


def _md(value: object) -> str:
    return cell(value, _CELL, emphasis=True)


def render_text(d: SpecDiff) -> str:
    head = f"Spec diff: {d.spec} at {d.base_ref} -> working tree"
    if d.base_missing:
        head += f" (the spec did not exist at {d.base_ref}: everything is new)"
    lines = [head]
    section = None
    for c in d.changes:
        if c.section != section:
            section = c.section
            lines += ["", section]
        lines.append(f"  {SYMBOL[c.change]} {c.object} ({c.change})  [{c.file}: {c.field}]")
        lines += [f"      {x}" for x in c.details]
        lines += [f"      DESTRUCTIVE: {x}" for x in c.destructive]
    lines += ["", d.summary()[0].upper() + d.summary()[1:] + "."]
    return "\n".join(lines) + "\n"


def change_row(c: Change, detail_items: int = 3) -> str:
    """One Markdown table row (CHANGE_HEAD's columns), the first details only."""
    shown = list(c.details[:detail_items])
    if len(c.details) > detail_items:
        shown.append(f"… (+{len(c.details) - detail_items} more)")
    return (f"| {SYMBOL[c.change]} | {c.section} | {code(c.object, _NAME)} | {c.change} | "
            f"{_md('; '.join(shown))} | {_md('; '.join(c.destructive)) if c.destructive else ''} |")


def render_markdown(d: SpecDiff, *, max_rows: int = 100, heading: str = "###") -> str:
    """Markdown: summary, destructive changes first, then every change (capped), details folded."""
    about = f"{code(d.spec, _NAME)} at {code(d.base_ref, _NAME)} → working tree"
    lines = [f"{heading} Spec diff", "", f"**{_md(d.summary())}** ({about})."]
    if d.base_missing:
        lines += ["", f"The spec did not exist at {code(d.base_ref, _NAME)}: everything is new."]
    if not d.changes:
        return "\n".join(lines) + "\n"
    ordered = list(d.destructive) + [c for c in d.changes if not c.is_destructive]
    lines += ["", *CHANGE_HEAD]
    lines += [change_row(c) for c in ordered[:max_rows]]
    if len(ordered) > max_rows:
        lines += ["", f"… and {len(ordered) - max_rows:,} more changes (`reconcile spec-diff --format json` "
                      f"lists them all)"]
    folded = ordered[:max_rows]
    if folded:
        lines += ["", "<details><summary>Where and field-level details</summary>", ""]
        for c in folded:
            lines.append(f"- {code(c.name, _NAME)} in {code(c.file + ': ' + c.field, _NAME)}")
            lines += [f"  - {_md(x)}" for x in c.details[:20]]
            if len(c.details) > 20:
                lines.append(f"  - … (+{len(c.details) - 20} more)")
            lines += [f"  - **destructive**: {_md(x)}" for x in c.destructive[:10]]
        lines += ["", "</details>"]
    return "\n".join(lines) + "\n"


def render_json(d: SpecDiff) -> str:
    doc = {"schema_version": 1, "spec": d.spec, "base_ref": d.base_ref, "base_missing": d.base_missing,
           "exit_code": d.exit_code(), "counts": d.counts(), "destructive": len(d.destructive),
           "changes": [c.to_dict() for c in d.changes]}
    return json.dumps(doc, indent=2, sort_keys=True) + "\n"


def render(d: SpecDiff, fmt: str) -> str:
    if fmt == "json":
        return render_json(d)
    if fmt == "markdown":
        return render_markdown(d)
    return render_text(d)
