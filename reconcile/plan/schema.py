"""BigQuery's schema-change rules, as data, and the one comparison of two column lists.

Which column changes BigQuery makes to a table that holds data, in place, and which
need the table rewritten (or a human) are written down once here, as tables
(SQLMesh keeps them as a table too, `core/schema_diff.py`), from Google's pages:

- "Modifying table schemas", https://cloud.google.com/bigquery/docs/managing-table-schemas:
  a column added to an existing table must be NULLABLE or REPEATED (a REQUIRED one
  cannot be added); the only mode change is relaxing REQUIRED to NULLABLE; dropping a
  column (ALTER TABLE DROP COLUMN) loses its data; any other type or mode change
  means rewriting the table.
- ALTER COLUMN SET DATA TYPE in the DDL reference,
  https://cloud.google.com/bigquery/docs/reference/standard-sql/data-definition-language#alter_column_set_data_type_statement:
  a type may change in place only to a type it coerces to (`WIDENINGS`).

`compare_columns(old, new)` returns one typed `ColumnChange` per column that differs;
its `rule` says what BigQuery allows and what this tool does about it. Two callers
use it: the planner (live table -> declared table: what it adds, what is a conflict)
and the spec diff (old spec -> new spec: what is destructive); each words the
changes its own way. Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Literal

from reconcile.spec.model import canonical_type

Column = tuple[str, str, str]  # (name, type, mode)

ADD = "add"  # a new NULLABLE or REPEATED column
ADD_REQUIRED = "add_required"  # a new REQUIRED column
DROP = "drop"  # a column that is no longer there
WIDEN = "widen"  # a type change ALTER COLUMN SET DATA TYPE makes in place
RETYPE = "retype"  # any other type change
RELAX = "relax"  # REQUIRED -> NULLABLE
TIGHTEN = "tighten"  # NULLABLE or REPEATED -> REQUIRED
REMODE = "remode"  # any other mode change (NULLABLE <-> REPEATED, REQUIRED -> REPEATED)


@dataclass(frozen=True)
class Rule:
    """One kind of column change: what BigQuery allows, what the planner and the spec diff make of it."""

    kind: str
    # BigQuery makes the change to a table holding data without rewriting it.
    in_place: bool
    # What `plan()` does when the live table differs from the declaration so: "add" the
    # column (AddColumns), "accept" the live column as it is, or flag a "conflict".
    planned: Literal["add", "accept", "conflict"]
    # `reconcile spec-diff` calls the spec change destructive (it can lose data or
    # break on existing rows).
    destructive: bool


RULES: dict[str, Rule] = {r.kind: r for r in (
    Rule(ADD, in_place=True, planned="add", destructive=False),
    Rule(ADD_REQUIRED, in_place=False, planned="conflict", destructive=True),
    # DROP COLUMN exists, but it loses the column's data: never done for the spec.
    Rule(DROP, in_place=True, planned="conflict", destructive=True),
    # ALTER COLUMN SET DATA TYPE exists, but the planner leaves it to a human (the
    # conflict says so), and the spec diff flags every type change alike.
    Rule(WIDEN, in_place=True, planned="conflict", destructive=True),
    Rule(RETYPE, in_place=False, planned="conflict", destructive=True),
    # Every existing row satisfies the relaxed column: nothing to do, nothing lost.
    Rule(RELAX, in_place=True, planned="accept", destructive=False),
    Rule(TIGHTEN, in_place=False, planned="conflict", destructive=True),
    # Not in place either, but the spec diff has never flagged it (see the report).
    Rule(REMODE, in_place=False, planned="conflict", destructive=False),
)}

# (from type, to type) pairs that ALTER COLUMN SET DATA TYPE accepts: the coercions.
WIDENINGS = frozenset({("INT64", "NUMERIC"), ("INT64", "BIGNUMERIC"), ("INT64", "FLOAT64"),
                       ("NUMERIC", "BIGNUMERIC"), ("NUMERIC", "FLOAT64")})

# (from mode, to mode) -> kind, for every pair of different modes (a mode BigQuery
# does not name counts as a tightening when it becomes REQUIRED, else a remode).
MODE_CHANGES = {
    ("REQUIRED", "NULLABLE"): RELAX,
    ("NULLABLE", "REQUIRED"): TIGHTEN,
    ("REPEATED", "REQUIRED"): TIGHTEN,
    ("NULLABLE", "REPEATED"): REMODE,
    ("REPEATED", "NULLABLE"): REMODE,
    ("REQUIRED", "REPEATED"): REMODE,
}


@dataclass(frozen=True)
class ColumnChange:
    kind: str
    column: str
    old: tuple[str, str] | None  # (type, mode); None when added
    new: tuple[str, str] | None  # (type, mode); None when dropped

    @property
    def rule(self) -> Rule:
        return RULES[self.kind]


def bigquery_field(typ: str, mode: str) -> tuple[str, str]:
    """One spelling for a column: DDL and INFORMATION_SCHEMA say ARRAY<T>, the API
    says T with mode REPEATED. Both become (T, REPEATED)."""
    t = canonical_type(typ)
    if t.startswith("ARRAY<") and t.endswith(">"):
        return canonical_type(t[6:-1]), "REPEATED"
    return t, mode


# Pseudo-columns BigQuery lists in INFORMATION_SCHEMA.COLUMNS for an ingestion-time
# partitioned table (is_hidden = 'YES'): never a column of the table's declared schema.
# https://cloud.google.com/bigquery/docs/information-schema-columns,
# https://cloud.google.com/bigquery/docs/partitioned-tables#ingestion_time
PSEUDO_COLUMNS = frozenset({"_PARTITIONTIME", "_PARTITIONDATE"})


def is_pseudo_column(name: str) -> bool:
    return name.upper() in PSEUDO_COLUMNS


def column_key(name: str) -> str:
    """Column names are case-insensitive in BigQuery (`Amount` and `amount` are one column):
    https://cloud.google.com/bigquery/docs/schemas#column_names"""
    return name.casefold()


def compare_columns(old: Iterable[Column], new: Iterable[Column]) -> list[ColumnChange]:
    """What changes from the columns `old` to the columns `new`, one change per column
    that differs: first the columns of `new` in their order (added, type change, else
    mode change), then those dropped, in `old`'s order. A type change takes precedence
    over a mode change. Names match case-insensitively (BigQuery's rule; a change named
    by `new`'s spelling) and pseudo-columns (`_PARTITIONTIME`, `_PARTITIONDATE`) are not
    columns. Types and modes are compared as given (callers normalise). Pure."""
    old = [c for c in old if not is_pseudo_column(c[0])]
    have = {column_key(name): (typ, mode) for name, typ, mode in old}
    spelled = {column_key(name): name for name, _, _ in old}
    out: list[ColumnChange] = []
    names = set()
    for name, typ, mode in new:
        names.add(column_key(name))
        was = have.get(column_key(name))
        if was is None:
            out.append(ColumnChange(ADD_REQUIRED if mode == "REQUIRED" else ADD, name, None, (typ, mode)))
        elif was[0] != typ:
            out.append(ColumnChange(WIDEN if (was[0], typ) in WIDENINGS else RETYPE, name, was, (typ, mode)))
        elif was[1] != mode:
            kind = MODE_CHANGES.get((was[1], mode), TIGHTEN if mode == "REQUIRED" else REMODE)
            out.append(ColumnChange(kind, name, was, (typ, mode)))
    out += [ColumnChange(DROP, spelled[key], was, None) for key, was in have.items() if key not in names]
    return out
