"""The one Markdown escaper for every report (plans, results, spec diffs, lint, PR
comments, status): one line per cell, no table breaks, no HTML, no code spans.

Two escape sets exist because reports published before this module escaped
differently and their goldens are byte-for-byte: `cell` (plan and result reports)
escapes `>` and leaves `*`; `cell(..., emphasis=True)` (review reports: globs such
as `*_backup_*` are common there) escapes `*` and leaves `>`. Both render the same
on GitHub and in the Prefect UI. Pure.
"""

from __future__ import annotations


def clip(value: object, limit: int | None) -> str:
    """One line (newlines would end a table row), at most `limit` characters (None: any)."""
    s = " ".join(str(value).split())
    if not s.isprintable():  # a control character or an escape in a name (reconcile.render.safe)
        s = "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in s)
    return s if limit is None or len(s) <= limit else s[: limit - 1] + "…"


def cell(value: object, limit: int = 300, *, emphasis: bool = False) -> str:
    """A value as plain text in a Markdown table cell or inline text."""
    s = clip(value, limit).replace("\\", "\\\\").replace("&", "&amp;").replace("<", "&lt;")
    if emphasis:
        for ch in "|`*":
            s = s.replace(ch, "\\" + ch)
        return s
    return s.replace(">", "&gt;").replace("|", "\\|").replace("`", "\\`")


def code(value: object, limit: int | None = 160) -> str:
    """A name as inline code: no escaping inside a code span except the table pipe
    (a backtick, which would end the span, becomes `'`)."""
    s = clip(str(value).replace("`", "'"), limit)
    return "`" + s.replace("|", "\\|") + "`"


def table_cell(value: str) -> str:
    """A cell already safe as Markdown (status tables): only pipes and newlines."""
    return value.replace("|", "\\|").replace("\n", " ")
