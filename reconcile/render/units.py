"""Numbers and durations in words, for every report: `count(3, "table")` is
"3 tables", `human_age(5400)` is "90 min". Pure.
"""

from __future__ import annotations


def count(n: int, word: str, plural: str | None = None) -> str:
    """`1 row`, `6,380 rows` (thousands separated; `plural` where adding "s" is wrong)."""
    return f"{n:,} {word if n == 1 else (plural or word + 's')}"


def human_age(seconds: float, *, compact: bool = False) -> str:
    """How old something is, in the largest unit that reads well: `42 s`, `12 min`,
    `3.5 h`, `2.0 days`; a negative age (a clock ahead of this one) says so.

    `compact` is the CLI's form (`reconcile plan --snapshot`: "taken ... (42s ago)"):
    no space before the seconds, and a negative age printed as the number it is.
    The two forms are kept apart because both outputs are published as they are.
    """
    if seconds < 0 and not compact:
        return "in the future (check the clock)"
    if seconds < 120:
        return f"{seconds:.0f}s" if compact else f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"
