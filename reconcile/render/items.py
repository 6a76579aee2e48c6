"""A plan, described for the renderers: each action with its line and symbol, the
tallies per verb, and the order of kinds (text, Markdown and JSON share these).

Every action is described before anything is written: an unknown type fails the
whole rendering, even where the output would have been truncated. Pure.
"""

from __future__ import annotations

import dataclasses

from collections.abc import Iterable
from dataclasses import dataclass

from reconcile.plan.actions import ACTIONS, PHASES, Action, Plan
from reconcile.render.describe import VERBS, Line, describe_line
from reconcile.render.safe import printable
from reconcile.render.units import count

_VERB_SYMBOL = {
    "create": "+", "change": "~", "transform": "~", "relocate": "!",
    "back up": "⇢", "migrate": "⇢", "load": "⇢", "archive": "⇢",
    "validate": "=", "flag": "✗", "report": "?",
}


def _symbol(action: Action, line: Line) -> str:
    # Order matters: "blocked" is what the reader must see first, then "destructive".
    if action.is_blocked:
        return "✗"
    if action.diagnostic:
        return "?"
    if action.destructive:
        return "-" if line.verb == "archive" else "!"
    return _VERB_SYMBOL[line.verb]


@dataclass(frozen=True)
class Item:
    action: Action
    line: Line
    symbol: str


def describe_all(plan: Plan, where: str) -> list[Item]:
    """Every action of the plan, described (`where` names the renderer in UnknownAction)."""
    out = []
    for a in plan.actions:
        line = describe_line(a, where)
        if not line.text.isprintable():  # a name holding a control character or an escape (render.safe)
            line = dataclasses.replace(line, text=printable(line.text))
        out.append(Item(a, line, _symbol(a, line)))
    return out


@dataclass(frozen=True)
class Tally:
    by_verb: dict[str, int]
    destructive: int  # destructive changes that would run (not blocked)
    blocked: int
    unmanaged: int

    @property
    def changes(self) -> int:
        return sum(self.by_verb.values())


def tally(plan: Plan, described: Iterable[Item]) -> Tally:
    change_ids = {id(a) for a in plan.changes}
    by_verb = {v: 0 for v in VERBS}
    destructive = 0
    for it in described:
        if id(it.action) in change_ids:
            by_verb[it.line.verb] += 1
            destructive += bool(it.action.destructive)
    return Tally(by_verb, destructive, len(plan.blocked), len(plan.unmanaged))


def change_phrases(t: Tally) -> list[str]:
    """`2 to create, 1 transform to run, 1 destructive`: the changes, in phase order."""
    out = []
    for verb in VERBS:
        n = t.by_verb[verb]
        if not n:
            continue
        out.append(count(n, "transform") + " to run" if verb == "transform" else f"{n:,} to {verb}")
    if t.destructive:
        out.append(f"{t.destructive:,} destructive")
    return out


def _kind_order() -> dict[type[Action], int]:
    order: dict[type[Action], int] = {}
    for _, types in PHASES:
        for cls in types:
            order.setdefault(cls, len(order))
    for cls in ACTIONS:
        order.setdefault(cls, len(order))
    return order


# Action kinds in phase order (then the union's order for any kind not in a phase).
KIND_ORDER = _kind_order()
