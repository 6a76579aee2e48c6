"""What still reads a legacy dataset (issue 17): live views and routines, the spec's SQL
files and the files it scans, each with the legacy table it names and that table's new
name under the spec's migrations (`DesiredState.migrated_name`, the planner's own rule).

`find(desired, snapshot)` lists every such reference, waived or not; `blocking(...)`
those that hold up a dataset's deletion (not waived). A definition the parser cannot
read (a live view or routine) is a reference too, to an unknown table: nothing can say
it does not read the dataset. A view or routine inside the legacy dataset itself goes
with it (its deletion is judged by the archive rules) and is not listed.

Pure: the spec (its files were read when it was loaded) and the snapshot in, data out.
"""

from __future__ import annotations

from dataclasses import dataclass

from reconcile.snapshot.model import Snapshot
from reconcile.spec import sqlparse, sqlrefs
from reconcile.spec.model import DesiredState

UNREADABLE = "?"  # the legacy table of a definition the parser cannot read


@dataclass(frozen=True)
class Reference:
    holder: str  # what holds it: a view or routine "dataset.name", or a file path
    kind: str  # "view", "routine", "spec SQL", "SQL file", "Python"
    legacy: str  # "dataset.table" it names (UNREADABLE: cannot tell)
    new: str | None  # its new name under the migrations; None: none (archived only)
    line: int | None = None  # in a file
    waived: str | None = None  # the waiver's reason
    why: str = ""  # for an unreadable definition: the parser's message

    @property
    def dataset(self) -> str:
        return self.legacy.split(".", 1)[0]

    @property
    def where(self) -> str:
        return f"{self.holder}:{self.line}" if self.line is not None else self.holder

    @property
    def fixable(self) -> bool:
        """`reconcile refs --fix` rewrites it: a SQL file (the spec's or a scanned one) and a new name."""
        return self.kind in ("spec SQL", "SQL file") and self.new is not None

    def describe(self) -> str:
        """'view dashboards.x reads forecasting_data_warehouse.t (now market_data.fwd_t)'."""
        what = f"{self.kind} {self.where}" if self.kind in ("view", "routine") else f"{self.where} ({self.kind})"
        if self.legacy == UNREADABLE:
            return f"{what}: its definition cannot be read ({self.why}): it may read a legacy dataset"
        now = f"now {self.new}" if self.new else "not migrated: archived only"
        return f"{what} reads {self.legacy} ({now})"

    def to_dict(self) -> dict:
        return {"where": self.where, "holder": self.holder, "kind": self.kind, "line": self.line,
                "legacy": self.legacy, "new": self.new, "waived": self.waived, "fixable": self.fixable}


def _waiver(desired: DesiredState, holder: str, legacy: str) -> str | None:
    return next((w.reason for w in desired.references.waivers if w.matches(holder, legacy)), None)


def _live(desired: DesiredState, holder: str, kind: str, text: str | None,
          legacy: set[str]) -> list[Reference]:
    """References of one live view or routine to the legacy datasets."""
    own_ds = holder.split(".", 1)[0]
    if text is None:
        refs, why = None, "not readable from the warehouse"
    else:
        try:
            refs, why = sqlrefs.table_refs(text, desired.project), ""
        except sqlparse.SqlError as e:
            refs, why = None, e.message
    if refs is None:
        if own_ds in legacy:
            return []
        return [Reference(holder, kind, UNREADABLE, None, waived=_waiver(desired, holder, UNREADABLE), why=why)]
    out = []
    for t in dict.fromkeys(ref for _, ref in refs):
        ds = t.split(".", 1)[0]
        if t == holder or ds not in legacy or ds == own_ds:
            continue
        out.append(Reference(holder, kind, t, desired.migrated_name(t), waived=_waiver(desired, holder, t)))
    return out


def find(desired: DesiredState, snapshot: Snapshot) -> list[Reference]:
    """Every reference to a legacy dataset (waived ones too), views first, then routines
    and files, each sorted."""
    legacy = set(desired.legacy_datasets(snapshot.datasets))
    out: list[Reference] = []
    for ref, t in sorted(snapshot.tables.items()):
        # A declared view is the spec's: its SQL file is scanned instead (what apply creates).
        if t.type == "VIEW" and t.view_sql is not None and ref not in desired.views:
            out += _live(desired, ref, "view", t.view_sql, legacy)
    for ref, r in sorted((snapshot.routines or {}).items()):
        out += _live(desired, ref, "routine", r.definition, legacy)
    for f in desired.file_references:
        out.append(Reference(f.file, f.kind, f.table, desired.migrated_name(f.table), line=f.line,
                             waived=_waiver(desired, f.file, f.table)))
    return out


def blocking(refs: list[Reference], dataset: str) -> list[str]:
    """Why `dataset` cannot be deleted yet: each unwaived reference to it (and each
    unreadable definition, which may read it)."""
    return [f"{r.describe()}: still referenced" for r in refs
            if r.waived is None and (r.dataset == dataset or r.legacy == UNREADABLE)]
