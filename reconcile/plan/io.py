"""What each planned action reads, writes and creates, as the object graph sees it (`IO`),
and how a block's reason names an action (`subject`): one entry per action class in the
registries IO_OF and SUBJECTS (a kind left out fails at import). Pure.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from reconcile.plan.actions import (
    Action, AddColumns, ArchiveDataset, BackupTable, CreateDataset, CreateTable, CreateView,
    ExpectationFailed, FlagRecreate, FlagSchemaConflict, MergeLoad, MigrateTable, MissingSource,
    RefuseLoad, RelocateDataset, RunTransform, Unmanaged, Validate,
)
from reconcile.plan.graph import ObjectGraph
from reconcile.plan.registry import ActionRegistry
from reconcile.plan.state import PlanInputs


@dataclass(frozen=True)
class IO:
    """What one action needs and does, as the graph sees it."""

    reads: tuple[str, ...] = ()  # must exist before it runs
    writes: tuple[str, ...] = ()  # changed: must exist before it runs, unless it creates them
    creates: tuple[str, ...] = ()
    drops: tuple[str, ...] = ()  # no longer exist after it
    datasets: tuple[str, ...] = ()  # where it creates or writes: must exist
    creates_datasets: tuple[str, ...] = ()
    inputs: tuple[str, ...] = ()  # what the plan JSON shows it reads: tables and views, files by path
    query: tuple[str, ...] = ()  # datasets one query job spans (views, transforms)

    @property
    def objects(self) -> set[str]:
        return {*self.reads, *self.writes, *self.creates, *self.drops}


def _ds(ref: str) -> str:
    return ref.split(".", 1)[0]


@dataclass(frozen=True)
class IOContext:
    """What an IO_OF entry may look at: the plan's inputs, the object graph, and the
    backups this plan takes (table -> backup tables)."""

    inp: PlanInputs
    graph: ObjectGraph
    backups: dict[str, tuple[str, ...]]


IO_OF: ActionRegistry[Callable[..., IO]] = ActionRegistry("graph inputs and outputs (plan)")


def io_of(a: Action, inp: PlanInputs, graph: ObjectGraph, backups: dict[str, tuple[str, ...]]) -> IO:
    """What action `a` reads, writes and creates (`backups`: table -> the backups this plan
    takes of it): one entry per action class in IO_OF. Pure."""
    return IO_OF[a](a, IOContext(inp, graph, backups))


@IO_OF.register(CreateDataset)
def _io_create_dataset(a: CreateDataset, c: IOContext) -> IO:
    return IO(creates_datasets=(a.name,))


@IO_OF.register(RelocateDataset)
def _io_relocate_dataset(a: RelocateDataset, c: IOContext) -> IO:
    # It recreates the dataset (a resumed one may find it deleted, its tables in the copy).
    tables = tuple(sorted(c.inp.tables_in(a.name)))
    return IO(creates_datasets=(a.name,), inputs=tables)


@IO_OF.register(CreateTable)
def _io_create_table(a: CreateTable, c: IOContext) -> IO:
    return IO(creates=(a.table,), datasets=(_ds(a.table),),
              inputs=(a.ddl_file,) if a.ddl_file else ())


@IO_OF.register(AddColumns)
def _io_add_columns(a: AddColumns, c: IOContext) -> IO:
    return IO(writes=(a.table,), datasets=(_ds(a.table),))


@IO_OF.register(CreateView)
def _io_create_view(a: CreateView, c: IOContext) -> IO:
    reads = c.graph.views.get(a.view, ())
    return IO(reads=reads, creates=(a.view,), datasets=(_ds(a.view),), inputs=reads,
              query=tuple(dict.fromkeys([_ds(a.view), *(_ds(r) for r in reads)])))


@IO_OF.register(MergeLoad)
def _io_merge_load(a: MergeLoad, c: IOContext) -> IO:
    return IO(writes=(a.table,), datasets=(_ds(a.table),), inputs=(a.source,))


@IO_OF.register(BackupTable)
def _io_backup_table(a: BackupTable, c: IOContext) -> IO:
    return IO(reads=(a.source,), creates=(a.backup,), datasets=(_ds(a.backup),), inputs=(a.source,))


@IO_OF.register(MigrateTable)
def _io_migrate_table(a: MigrateTable, c: IOContext) -> IO:
    # The executor migrates only once every backup the plan takes of either end exists.
    taken = c.backups.get(a.source, ()) + c.backups.get(a.destination, ())
    created = (a.destination,) if a.replace_rows is None else ()
    return IO(reads=(a.source, *taken), writes=(a.destination,), creates=created,
              datasets=(_ds(a.destination),), inputs=(a.source,))


@IO_OF.register(ArchiveDataset)
def _io_archive_dataset(a: ArchiveDataset, c: IOContext) -> IO:
    sources = tuple(src for src, _, _ in a.tables)
    drops = tuple(sorted(c.inp.tables_in(a.name))) if a.delete_source and not a.keep else ()
    # After the backups this plan takes of them: the executor copies an archive table from a
    # proven backup in the archive's location rather than across regions again.
    taken = tuple(bk for src in sources for bk in c.backups.get(src, ()))
    return IO(reads=sources + taken, creates=tuple(dest for _, dest, _ in a.tables), drops=drops,
              datasets=(a.archive,), inputs=sources)


@IO_OF.register(RunTransform)
def _io_run_transform(a: RunTransform, c: IOContext) -> IO:
    t = c.graph.transforms.get(a.name)
    reads = t.inputs if t else ()
    outputs = tuple(a.outputs)
    return IO(reads=reads, writes=outputs, creates=t.creates if t else (),
              datasets=tuple(dict.fromkeys(_ds(o) for o in outputs)), inputs=reads,
              query=tuple(dict.fromkeys([*(_ds(o) for o in outputs), *(_ds(r) for r in reads)])))


@IO_OF.register(Validate)
def _io_validate(a: Validate, c: IOContext) -> IO:
    return IO(reads=(a.table,), inputs=(a.table,))


@IO_OF.register(ExpectationFailed)
def _io_expectation_failed(a: ExpectationFailed, c: IOContext) -> IO:
    return IO(inputs=(a.table,))


@IO_OF.register(MissingSource)
def _io_missing_source(a: MissingSource, c: IOContext) -> IO:
    return IO(inputs=(a.source,))


@IO_OF.register(FlagRecreate, FlagSchemaConflict, RefuseLoad, Unmanaged)
def _io_nothing(a: Action, c: IOContext) -> IO:
    return IO()  # report-only flags and listings: nothing to order or check


IO_OF.verify()


# How a reason names the action it blocks.
SUBJECTS: ActionRegistry[Callable[[Any], str]] = ActionRegistry("blocked subjects (plan)")
SUBJECTS.register_all({
    CreateView: lambda a: f"view {a.view}",
    RunTransform: lambda a: f"transform {a.name}",
    Validate: lambda a: f"gate on {a.table}",
    MergeLoad: lambda a: f"load of {a.source}",
    MigrateTable: lambda a: f"migration {a.source} -> {a.destination}",
    BackupTable: lambda a: f"backup of {a.source}",
    ArchiveDataset: lambda a: f"archive of {a.name}",
    RelocateDataset: lambda a: f"relocation of {a.name}",
    CreateTable: lambda a: f"table {a.table}",
    AddColumns: lambda a: f"new columns of {a.table}",
})
# The rest are named by kind and label (they are seldom the subject of a block).
SUBJECTS.register(CreateDataset, FlagRecreate, FlagSchemaConflict, RefuseLoad, MissingSource,
                  ExpectationFailed, Unmanaged)(lambda a: f"{a.kind} {a.label()}")
SUBJECTS.verify()


def subject(a: Action) -> str:
    """How a reason names the action it blocks (SUBJECTS)."""
    return SUBJECTS[a](a)
