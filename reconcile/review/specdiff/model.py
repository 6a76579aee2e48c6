"""What a spec diff is made of: one `Change` per object added, removed, modified or
renamed, with why it is destructive and what it puts at stake. Pure data."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

# The sections of a spec, in the order a diff reports them.
SECTIONS = ("settings", "targets", "datasets", "tables", "views", "loads", "migrations", "archive",
            "retire", "references", "expectations", "transforms", "waivers")
SYMBOL = {"added": "+", "removed": "-", "modified": "~", "renamed": "→"}


def count(n: int, word: str) -> str:
    return f"{n:,} {word if n == 1 else word + 's'}"


@dataclass(frozen=True)
class Stake:
    """An object a change puts at risk; rows are looked up in a snapshot later."""

    kind: Literal["dataset", "table", "datasets", "tables"]  # plural: a name pattern
    name: str


@dataclass(frozen=True)
class Change:
    section: str
    object: str
    change: Literal["added", "removed", "modified", "renamed"]
    details: tuple[str, ...] = ()
    destructive: tuple[str, ...] = ()  # why, one reason each
    file: str = ""
    field: str = ""
    stakes: tuple[Stake, ...] = ()

    @property
    def is_destructive(self) -> bool:
        return bool(self.destructive)

    @property
    def name(self) -> str:
        return f"{self.section}.{self.object}"

    def to_dict(self) -> dict[str, Any]:
        return {"section": self.section, "object": self.object, "change": self.change,
                "details": list(self.details), "destructive": list(self.destructive),
                "file": self.file, "field": self.field,
                "stakes": [{"kind": s.kind, "name": s.name} for s in self.stakes]}


@dataclass(frozen=True)
class SpecDiff:
    spec: str
    base_ref: str
    changes: tuple[Change, ...]
    base_missing: bool = False  # the spec file did not exist at the base ref

    @property
    def destructive(self) -> tuple[Change, ...]:
        return tuple(c for c in self.changes if c.is_destructive)

    def exit_code(self) -> int:
        """0 no change, 2 changes, 3 something destructive."""
        if self.destructive:
            return 3
        return 2 if self.changes else 0

    def counts(self) -> dict[str, int]:
        out = {"added": 0, "removed": 0, "modified": 0, "renamed": 0}
        for c in self.changes:
            out[c.change] += 1
        return out

    def summary(self) -> str:
        if not self.changes:
            return "no change to the desired state"
        parts = [f"{n} {k}" for k, n in self.counts().items() if n]
        text = f"{count(len(self.changes), 'change')} ({', '.join(parts)})"
        if self.destructive:
            text += f", {len(self.destructive)} destructive"
        return text
