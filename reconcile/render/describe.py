"""One action, described in one line: the registry every plan renderer shares.

Each entry of `DESCRIBERS` (an ActionRegistry keyed by the exact action class, as
Alembic's autogenerate render registry is) turns one action into a `Line`: a verb
("create", "load", ..., one of VERBS, or "flag"/"report" for what is never a
change) used for totals and symbols, and a specific, one-line text. An action type
missing from the registry raises `UnknownAction`, so a new action cannot be
rendered silently as something else.

Pure: strings from data; no I/O, no clock, no environment.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from reconcile.plan.actions import (
    Action,
    AddColumns,
    ArchiveDataset,
    BackupTable,
    CreateDataset,
    CreateTable,
    CreateView,
    ExpectationFailed,
    FlagRecreate,
    FlagSchemaConflict,
    MergeLoad,
    MigrateTable,
    MissingSource,
    RefuseLoad,
    RelocateDataset,
    RunTransform,
    Stakes,
    UnknownAction,
    Unmanaged,
    Validate,
)
from reconcile.plan.registry import ActionRegistry
from reconcile.render.units import count as _count

__all__ = ["DESCRIBERS", "NON_CHANGE_VERBS", "RENDER_REGISTRY", "VERBS", "Line", "describe",
           "describe_line", "some", "stakes_text"]

# What a change does, in phase order; the totals line and the JSON summary use these.
VERBS: tuple[str, ...] = (
    "create", "change", "relocate", "back up", "migrate", "load", "transform",
    "validate", "archive",
)
# Verbs of actions that are never changes (they are counted as blocked or unmanaged).
NON_CHANGE_VERBS = ("flag", "report")

# Lists inside a description (columns, checks, problems) show this many items.
_LIST_ITEMS = 5


@dataclass(frozen=True)
class Line:
    """One action, described: its verb (for totals and symbols) and its text."""

    verb: str
    text: str


A = TypeVar("A", bound=Action)
_Describer = Callable[[Any], Line]

# Keyed by the exact class: a subclass is a new kind of action and must be
# registered, not described as its parent.
DESCRIBERS: ActionRegistry[_Describer] = ActionRegistry("plan descriptions (render)")
RENDER_REGISTRY = DESCRIBERS.mapping()


def _describes(cls: type[A]) -> Callable[[Callable[[A], Line]], Callable[[A], Line]]:
    return DESCRIBERS.register(cls)


def describe_line(action: Action, where: str = "render") -> Line:
    """The verb and text of an action; raises UnknownAction (naming `where`) for an
    unregistered type."""
    if type(action) not in DESCRIBERS:
        raise UnknownAction(action, where)
    line = DESCRIBERS[action](action)
    if line.verb not in VERBS and line.verb not in NON_CHANGE_VERBS:
        raise ValueError(f"{type(action).__name__}: unknown verb {line.verb!r}")
    if action.known_gap is not None:
        line = Line(line.verb, f"{line.text} — known gap on this target: {action.known_gap}")
    return line


def describe(action: Action) -> str:
    """The one-line description of an action; raises UnknownAction for an unregistered type."""
    return describe_line(action, "describe").text


# ---------------------------------------------------------------- formatting helpers


def some(items: Sequence[str], sep: str = ", ", limit: int = _LIST_ITEMS) -> str:
    """The first few items, then how many were left out (a 400-column list stays one line)."""
    shown = sep.join(items[:limit])
    if len(items) > limit:
        shown += f"{sep}… (+{len(items) - limit:,} more)"
    return shown


def stakes_text(stakes: Stakes) -> str:
    """`3 tables, 1,234 rows`: what an action puts at stake ("" for nothing)."""
    parts = []
    if stakes.tables:
        parts.append(_count(stakes.tables, "table"))
    if stakes.rows:
        parts.append(_count(stakes.rows, "row"))
    return ", ".join(parts)


def _short_hash(content_hash: str) -> str:
    algo, _, digest = content_hash.rpartition(":")
    if not algo:
        hexdigits = set("0123456789abcdef")
        algo = "sha256" if len(digest) == 64 and set(digest.lower()) <= hexdigits else "hash"
    return f"{algo} {digest[:8]}…" if len(digest) > 8 else f"{algo} {digest}"


def _column(name: str, bq_type: str, mode: str = "NULLABLE") -> str:
    return f"{name} {bq_type}" + (f" {mode}" if mode and mode != "NULLABLE" else "")


# ---------------------------------------------------------------- one line per action kind


@_describes(CreateDataset)
def _describe_create_dataset(a: CreateDataset) -> Line:
    return Line("create", f"create dataset {a.name} in {a.location}")


@_describes(FlagRecreate)
def _describe_flag_recreate(a: FlagRecreate) -> Line:
    return Line("flag", f"{a.name} is in {a.actual_location}, must be in {a.desired_location}: "
                        f"recreate needed (approve with --approve-relocation {a.name})")


@_describes(RelocateDataset)
def _describe_relocate_dataset(a: RelocateDataset) -> Line:
    if a.strategy == "replica":
        text = (f"relocate dataset {a.name} from {a.from_location} to {a.to_location} by replica "
                f"({_count(len(a.table_names), 'table')}, {_count(a.rows, 'row')}): add a replica in "
                f"{a.to_location}, wait until it is complete, promote it, drop the replica in {a.from_location}")
    else:
        text = (f"relocate dataset {a.name} from {a.from_location} to {a.to_location} by copy: copy out "
                f"{_count(len(a.table_names), 'table')} ({_count(a.rows, 'row')}) and the dataset's "
                f"properties and access entries, verify, recreate, copy back, verify")
    if a.objects:
        text += "; at stake: " + "; ".join(f"{len(v)} {k.lower()} ({', '.join(v[:5])}"
                                           f"{', ...' if len(v) > 5 else ''})" for k, v in a.objects)
    if a.resume_step:
        text += f" (resuming at {a.resume_step})"
    return Line("relocate", text)


@_describes(CreateTable)
def _describe_create_table(a: CreateTable) -> Line:
    details = []
    if a.columns:
        details.append(_count(len(a.columns), "column"))
    if a.partition_by:
        details.append(f"partitioned by {a.partition_by}"
                       + (f" ({a.partition_granularity.lower()})" if a.partition_granularity != "DAY" else ""))
    if a.cluster_by:
        details.append(f"clustered by {', '.join(a.cluster_by)}")
    text = f"create table {a.table}"
    if details:
        text += f" ({'; '.join(details)})"
    if a.ddl_file:
        text += f" from {a.ddl_file}"
    return Line("create", text)


@_describes(AddColumns)
def _describe_add_columns(a: AddColumns) -> Line:
    cols = [_column(*c) for c in a.columns]
    return Line("change", f"add {_count(len(cols), 'column')} to {a.table}: {some(cols)}")


@_describes(FlagSchemaConflict)
def _describe_flag_schema_conflict(a: FlagSchemaConflict) -> Line:
    return Line("flag", f"{a.table}: incompatible schema change, needs a decision: "
                        f"{some(a.changes, '; ')}")


@_describes(CreateView)
def _describe_create_view(a: CreateView) -> Line:
    if a.replace:
        return Line("change", f"replace view {a.view} (definition differs) from {a.sql_file}")
    return Line("create", f"create view {a.view} from {a.sql_file}")


@_describes(MergeLoad)
def _describe_merge_load(a: MergeLoad) -> Line:
    on = f" on ({', '.join(a.keys)})" if a.keys else " (no merge keys declared)"
    again = f" again: {a.reload}" if a.reload else ""
    return Line("load", f"merge {a.source} ({_count(a.rows, 'row')}, "
                        f"{_short_hash(a.content_hash)}) into {a.table}{on}{again}")


@_describes(RefuseLoad)
def _describe_refuse_load(a: RefuseLoad) -> Line:
    size = f" ({_count(a.rows, 'row')})" if a.rows else ""
    return Line("flag", f"refuse to load {a.source}{size} into {a.table}: "
                        f"{some(a.problems, '; ')}")


@_describes(MissingSource)
def _describe_missing_source(a: MissingSource) -> Line:
    return Line("report", f"missing source {a.source} for {a.table}: {a.reason}")


@_describes(BackupTable)
def _describe_backup_table(a: BackupTable) -> Line:
    return Line("back up", f"back up {a.source} -> {a.backup} ({_count(a.rows, 'row')})")


@_describes(MigrateTable)
def _describe_migrate_table(a: MigrateTable) -> Line:
    if a.replace_rows is not None:
        return Line("migrate", f"replace {a.destination} ({_count(a.replace_rows, 'row')}) with "
                               f"a copy of {a.source} ({_count(a.rows, 'row')}), verify counts")
    return Line("migrate", f"copy {a.source} -> {a.destination} ({_count(a.rows, 'row')}), "
                           f"verify counts")


@_describes(ArchiveDataset)
def _describe_archive_dataset(a: ArchiveDataset) -> Line:
    rows = sum(r for _, _, r in a.tables)
    text = (f"{'retire' if a.matched_by == 'retire' else 'archive'} dataset {a.name} into {a.archive} "
            f"({_count(len(a.tables), 'table')}, {_count(rows, 'row')})")
    if a.delete_source:
        text += f", then delete dataset {a.name}"
    elif a.keep:
        text += ", source kept (archive, never delete)"
    return Line("archive", text)


@_describes(RunTransform)
def _describe_run_transform(a: RunTransform) -> Line:
    outputs = some(a.outputs) if a.outputs else "(no outputs)"
    return Line("transform", f"run transform {a.name} ({a.sql_file}) -> {outputs}: {a.reason}")


@_describes(Validate)
def _describe_validate(a: Validate) -> Line:
    gaps = f" (known gaps, warn only: {', '.join(k for k, _ in a.known_gaps)})" if a.known_gaps else ""
    return Line("validate", f"validate {a.table}: {some(a.checks, '; ')}{gaps}")


@_describes(ExpectationFailed)
def _describe_expectation_failed(a: ExpectationFailed) -> Line:
    return Line("report", f"{a.table}: {a.check} expected {a.expected}, observed {a.observed}")


@_describes(Unmanaged)
def _describe_unmanaged(a: Unmanaged) -> Line:
    size = f" ({_count(a.rows, 'row')})" if a.rows else ""
    return Line("report", f"unmanaged {a.object_type} {a.object}{size}: not touched")


DESCRIBERS.verify()
