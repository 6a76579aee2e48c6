"""When a spec change weakens a gate: a lower floor, a wider range, fewer placeholder
values, a shorter coverage, a check removed. Each reason is one line of a change's
`destructive`. Pure."""

from __future__ import annotations

from typing import Any

from reconcile.review.specdiff.fields import value_text as _v
from reconcile.spec.model import Expectations


def lowered(name: str, old: int | None, new: int | None, what: str = "") -> list[str]:
    """A floor (`min_rows`, `min_columns`, `min_distinct.<col>`) lowered or removed."""
    if old is not None and (new is None or new < old):
        return [f"{what}{name} lowered {old} -> {_v(new)}"]
    return []


def no_longer_rejected(old: list, new: list) -> list:
    """Placeholder values the old list rejected and the new one does not."""
    return [v for v in old if v not in new]


def placeholders_lost(old: list, new: list, what: str) -> list[str]:
    gone = no_longer_rejected(old, new)
    return [f"{what}: fewer placeholders: {_v(gone)} no longer rejected"] if gone else []


def loosened(old: Expectations | None, new: Expectations | None, what: str) -> list[str]:
    """Why `new` checks less than `old` (empty if it checks as much or more).

    `what` prefixes each reason (e.g. "expect"); empty when the object says it already."""
    if old is None or old.is_empty():
        return []
    what = f"{what}: " if what else ""
    if new is None or new.is_empty():
        return [f"{what}every expectation removed (the gate no longer checks this data)"]
    out = []
    for name in ("min_rows", "min_columns"):
        out += lowered(name, getattr(old, name), getattr(new, name), what)
    for col, o in sorted(old.min_distinct.items()):
        out += lowered(f"min_distinct.{col}", o, new.min_distinct.get(col), what)
    for col, o in sorted(old.ranges.items()):
        n = new.ranges.get(col)
        if n is None:
            out.append(f"{what}range of {col} removed (was {_v(o.min)}..{_v(o.max)})")
            continue
        if o.min is not None and (n.min is None or n.min < o.min):
            out.append(f"{what}range of {col} widened: min {_v(o.min)} -> {_v(n.min)}")
        if o.max is not None and (n.max is None or n.max > o.max):
            out.append(f"{what}range of {col} widened: max {_v(o.max)} -> {_v(n.max)}")
    for col, o in sorted(old.placeholders.items()):
        n = new.placeholders.get(col)
        if n is None:
            out.append(f"{what}placeholder check on {col} removed (was {_v(o)})")
            continue
        gone = no_longer_rejected(o, n)
        if gone:
            out.append(f"{what}fewer placeholders on {col}: {_v(gone)} no longer rejected")
    if old.coverage is not None:
        n = new.coverage
        oc = old.coverage
        if n is None:
            out.append(f"{what}coverage removed (was {oc.column} {oc.start}..{oc.end})")
        elif n.column != oc.column:
            out.append(f"{what}coverage now on {n.column}, was {oc.column}")
        elif n.start > oc.start or n.end < oc.end:
            out.append(f"{what}coverage shortened {oc.start}..{oc.end} -> {n.start}..{n.end}")
        if n is not None and n.tolerance_days > oc.tolerance_days:
            out.append(f"{what}coverage tolerance widened {oc.tolerance_days} -> {n.tolerance_days} days")
    return out


def file_gates(load: dict[str, Any]) -> Expectations:
    """A load's file gates (ranges, min_distinct), as expectations: they loosen alike."""
    return Expectations.model_validate({"ranges": load.get("ranges") or {},
                                        "min_distinct": load.get("min_distinct") or {}}, strict=False)


def exp_dict(e: Expectations | None) -> dict[str, Any]:
    return {} if e is None else e.model_dump(mode="json", by_alias=True, exclude_defaults=True)
