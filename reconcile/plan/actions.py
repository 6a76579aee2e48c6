"""The plan's vocabulary: a closed union of frozen action types.

Each action says what it would do, to which objects, what it puts at stake
(tables, rows) and whether it is destructive. Actions are plain data: they do
nothing by themselves. The planner builds them, the renderers describe them and
the executor carries them out; each of those dispatches on the type and raises
on a type it does not know. Adding an action means adding it to `ACTIONS` too.

What an action means *by itself* lives on its class: its `target` and `key`, its
`label()`, what it `touches()` (reads or writes: a failure there blocks it) and
`taints()` (what its own failure leaves unsafe), whether it only `reports_only`,
and its `skip_reason()`. Each class gets these from a mixin it names (`OnTarget`,
`OnTable`, `FromSource`, `OnDataset`, `Copies`) or defines them itself; `_check_knowledge`
refuses, at import, a class that relies on the base class. What a later stage does
with an action (apply it, describe it, dry-run it) is an `ActionRegistry` in that
stage (reconcile.plan.registry).

This module is longer than the others (~600 lines) on purpose: the closed union
is read as one vocabulary, and splitting it would scatter the list a reader checks.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any, ClassVar, Union


@dataclass(frozen=True)
class Stakes:
    tables: int = 0
    rows: int = 0


@dataclass(frozen=True, kw_only=True)
class Action:
    """Common fields. `blocked_by` names the actions (by key) or reasons that stop this one."""

    blocked_by: tuple[str, ...] = ()
    # Runs after the archive phase: it reads data the archive step puts in place.
    late: bool = False
    # A gate the target declared it cannot meet (spec: targets.<t>.known_gaps), with
    # the reason: reported every run, never blocking.
    known_gap: str | None = None
    # What the action reads, from the object graph (reconcile.plan.graph): tables, views,
    # staging files. Filled by the planner's dependency pass; the plan JSON carries it.
    inputs: tuple[str, ...] = ()
    # Keys of the actions this one holds up: those blocked because of it, directly or
    # through another blocked action (filled by the same pass).
    blocks: tuple[str, ...] = ()

    # Class-level traits, overridden per type.
    destructive: ClassVar[bool] = False
    # A diagnostic reports and never changes the warehouse.
    diagnostic: ClassVar[bool] = False
    # A flag needs a human decision: its presence makes the plan "blocked" (exit 3).
    needs_attention: ClassVar[bool] = False

    @property
    def kind(self) -> str:
        return type(self).__name__

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.target}"

    @property
    def target(self) -> str:
        raise NotImplementedError

    @property
    def dataset(self) -> str:
        return self.target.split(".")[0]

    # Per-action knowledge. Every class in ACTIONS defines these itself or through one
    # of the mixins below, chosen explicitly; `_check_knowledge` refuses a class that
    # relies on this base class (at import, so a forgotten kind fails at start-up).
    def label(self) -> str:
        """How progress lines and run records name what the action works on."""
        raise NotImplementedError

    def touches(self, desired: Any) -> tuple[set[str], set[str]]:
        """(tables, datasets) the action reads or writes: a failure or block of an
        earlier action on any of them blocks this one. `desired` is the DesiredState
        (a transform's inputs are declared there)."""
        raise NotImplementedError

    def taints(self) -> tuple[set[str], set[str]]:
        """(tables, datasets) a failure or block of this action leaves unsafe to build on."""
        raise NotImplementedError

    @property
    def reports_only(self) -> bool:
        """Reported, never acted on: diagnostics and flags that need a human."""
        return self.diagnostic or self.needs_attention

    def skip_reason(self) -> str:
        """Why a report-only action is not acted on (its outcome's detail)."""
        raise NotImplementedError

    @property
    def stakes(self) -> Stakes:
        return Stakes()

    @property
    def is_blocked(self) -> bool:
        return (bool(self.blocked_by) or self.needs_attention) and self.known_gap is None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d = {k: (list(v) if isinstance(v, tuple) else v) for k, v in d.items()}
        return {"kind": self.kind, "key": self.key, "destructive": self.destructive,
                "blocked": self.is_blocked,
                "stakes": asdict(self.stakes), **d}

    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in fields(cls)]


class OnTarget:
    """Knowledge of an action on one table or view (its `target`): it depends on that
    table and its dataset, and its failure leaves that table unsafe."""

    def label(self) -> str:
        return self.target  # type: ignore[attr-defined]

    def touches(self, desired: Any) -> tuple[set[str], set[str]]:
        return {self.target}, {self.target.split(".", 1)[0]}  # type: ignore[attr-defined]

    def taints(self) -> tuple[set[str], set[str]]:
        return {self.target}, set()  # type: ignore[attr-defined]


class OnTable(OnTarget):
    """An action whose target is its `table` field."""

    table: str

    @property
    def target(self) -> str:
        return self.table


class FromSource(OnTable):
    """A staging file into a table: keyed and labelled by both."""

    source: str

    @property
    def key(self) -> str:
        return f"{type(self).__name__}:{self.table}<-{self.source}"

    def label(self) -> str:
        return f"{self.table} <- {self.source}"


class OnDataset:
    """Knowledge of an action on a whole dataset (its `name`)."""

    name: str

    @property
    def target(self) -> str:
        return self.name

    def label(self) -> str:
        return self.name

    def touches(self, desired: Any) -> tuple[set[str], set[str]]:
        return set(), {self.name}

    def taints(self) -> tuple[set[str], set[str]]:
        return set(), {self.name}


class Copies:
    """A copy of one table to another (`ends()`: from, to): labelled "from -> to" and
    dependent on both; what its failure taints is the class's own."""

    def ends(self) -> tuple[str, str]:
        raise NotImplementedError

    def label(self) -> str:
        return " -> ".join(self.ends())

    def touches(self, desired: Any) -> tuple[set[str], set[str]]:
        return _with_datasets(set(self.ends()))


# ---------------------------------------------------------------- datasets


@dataclass(frozen=True, kw_only=True)
class CreateDataset(OnDataset, Action):
    name: str
    location: str
    description: str | None = None
    labels: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, kw_only=True)
class FlagRecreate(OnDataset, Action):
    """A dataset in the wrong region. BigQuery cannot move it: it must be recreated.

    Reported, never acted on: approve it (`--approve-relocation NAME`) to plan a
    RelocateDataset instead.
    """

    name: str
    actual_location: str
    desired_location: str
    tables: int
    rows: int
    needs_attention: ClassVar[bool] = True

    @property
    def stakes(self) -> Stakes:
        return Stakes(self.tables, self.rows)

    def skip_reason(self) -> str:
        return (f"in {self.actual_location}, declared in {self.desired_location}: needs "
                f"--approve-relocation {self.name}")


@dataclass(frozen=True, kw_only=True)
class RelocateDataset(OnDataset, Action):
    """Approved recreation in the right region: copy out, verify, recreate, copy back, verify."""

    name: str
    from_location: str
    to_location: str
    table_names: tuple[str, ...]
    rows: int
    resume_step: str | None = None  # checkpoint found in ops: resume from here
    # "copy" (through <name>__relocating: copy out, delete, recreate, copy back) or "replica"
    # (BigQuery's dataset replication: add a replica, wait, promote, drop the old one).
    strategy: str = "copy"
    # Every object at stake, by kind: (kind, names), e.g. ("TABLE", ("a", "b")), ("ROUTINE", ("f",)).
    objects: tuple[tuple[str, tuple[str, ...]], ...] = ()
    # The replica strategy's statements, in order: (step, SQL), checked by the SQL layer.
    statements: tuple[tuple[str, str], ...] = ()
    destructive: ClassVar[bool] = True

    @property
    def stakes(self) -> Stakes:
        return Stakes(len(self.table_names), self.rows)


# ---------------------------------------------------------------- tables and views

    def label(self) -> str:
        return f"{self.name} {self.from_location} -> {self.to_location}"


@dataclass(frozen=True, kw_only=True)
class CreateTable(OnTable, Action):
    table: str
    ddl_file: str | None = None
    columns: tuple[tuple[str, str, str], ...] = ()  # (name, type, mode)
    partition_by: str | None = None
    partition_granularity: str = "DAY"
    cluster_by: tuple[str, ...] = ()
    description: str | None = None
    labels: tuple[tuple[str, str], ...] = ()
    # (column, description) of the declared columns that have one (issue 18: they were
    # dropped); the table is created with them.
    column_descriptions: tuple[tuple[str, str], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        d = super().to_dict()
        if not d.get("column_descriptions"):
            d.pop("column_descriptions", None)  # none declared: the JSON stays as it was
        return d


@dataclass(frozen=True, kw_only=True)
class AddColumns(OnTable, Action):
    """Compatible change: nullable columns appended to an existing table."""

    table: str
    columns: tuple[tuple[str, str, str], ...]
    rows: int = 0


@dataclass(frozen=True, kw_only=True)
class FlagSchemaConflict(OnTable, Action):
    """Incompatible change (type change, dropped or now-required column): needs a human."""

    table: str
    changes: tuple[str, ...]
    rows: int = 0
    needs_attention: ClassVar[bool] = True

    @property
    def stakes(self) -> Stakes:
        return Stakes(1, self.rows)

    def skip_reason(self) -> str:
        return "schema conflict, needs a human: " + "; ".join(self.changes)


@dataclass(frozen=True, kw_only=True)
class CreateView(OnTarget, Action):
    view: str
    sql_file: str
    replace: bool = False  # the view exists with another definition

    @property
    def target(self) -> str:
        return self.view


# ---------------------------------------------------------------- data


@dataclass(frozen=True, kw_only=True)
class MergeLoad(FromSource, Action):
    """A staging file merged on its keys through a temporary table; recorded in the ledger."""

    table: str
    source: str
    content_hash: str
    rows: int
    keys: tuple[str, ...]
    columns: tuple[tuple[str, str], ...] = ()  # file schema (name, BigQuery type)
    table_rows: int = 0
    # Set when the file is in the load ledger but the table no longer holds its rows
    # ("N rows of FILE missing from TABLE"): merged again, the ledger notwithstanding.
    reload: str | None = None

    @property
    def stakes(self) -> Stakes:
        return Stakes(1, self.rows)


@dataclass(frozen=True, kw_only=True)
class RefuseLoad(FromSource, Action):
    """A staging file that fails its gate (placeholders, schema): never loaded."""

    table: str
    source: str
    problems: tuple[str, ...]
    rows: int = 0
    needs_attention: ClassVar[bool] = True

    def skip_reason(self) -> str:
        return f"{self.source} refused: " + "; ".join(self.problems)


@dataclass(frozen=True, kw_only=True)
class MissingSource(FromSource, Action):
    """A declared staging file that is not on disk: nothing to load, reported."""

    table: str
    source: str
    reason: str = "file not found"
    diagnostic: ClassVar[bool] = True
    needs_attention: ClassVar[bool] = True

    def skip_reason(self) -> str:
        return f"{self.source}: {self.reason}"


@dataclass(frozen=True, kw_only=True)
class BackupTable(Copies, Action):
    """A snapshot of a table taken before anything copies or replaces it."""

    source: str
    backup: str
    rows: int

    @property
    def target(self) -> str:
        return self.source

    @property
    def dataset(self) -> str:
        return self.source.split(".")[0]

    @property
    def stakes(self) -> Stakes:
        return Stakes(1, self.rows)

    def ends(self) -> tuple[str, str]:
        return self.source, self.backup

    def taints(self) -> tuple[set[str], set[str]]:
        return {self.source}, set()


@dataclass(frozen=True, kw_only=True)
class MigrateTable(Copies, Action):
    """Copy a legacy table to its new name (copy job), then verify exact row counts."""

    source: str
    destination: str
    rows: int
    replace_rows: int | None = None  # destination exists with a different count
    # Backup first, on the action: (table, its backup) pairs that must exist and match
    # their table (schema, count, checksum) before the executor copies or replaces.
    backups: tuple[tuple[str, str], ...] = ()

    @property
    def target(self) -> str:
        return self.destination

    @property
    def destructive(self) -> bool:  # type: ignore[override]
        return self.replace_rows is not None

    @property
    def stakes(self) -> Stakes:
        return Stakes(1, self.rows + (self.replace_rows or 0))

    def ends(self) -> tuple[str, str]:
        return self.source, self.destination

    def taints(self) -> tuple[set[str], set[str]]:
        return {self.destination}, set()


@dataclass(frozen=True, kw_only=True)
class ArchiveDataset(Action):
    """Copy every table of a backup dataset into the archive as `<dataset>__<table>`."""

    name: str
    archive: str
    tables: tuple[tuple[str, str, int], ...]  # (source table, archive table, rows)
    delete_source: bool = False
    keep: bool = False  # the spec says: archive, never delete
    matched_by: str = ""  # the archive.sources entry (name or glob) that matched this dataset

    @property
    def target(self) -> str:
        return self.name

    @property
    def destructive(self) -> bool:  # type: ignore[override]
        return self.delete_source

    @property
    def stakes(self) -> Stakes:
        return Stakes(len(self.tables), sum(r for _, _, r in self.tables))

    def label(self) -> str:
        return f"{self.name} -> {self.archive}"

    def touches(self, desired: Any) -> tuple[set[str], set[str]]:
        tables, datasets = _with_datasets({t for src, dest, _ in self.tables for t in (src, dest)})
        return tables, datasets | {self.name, self.archive}

    def taints(self) -> tuple[set[str], set[str]]:
        return set(), {self.name}


@dataclass(frozen=True, kw_only=True)
class RunTransform(Action):
    name: str
    sql_file: str
    outputs: tuple[str, ...]
    reason: str
    # The date the transform runs for (ISO, bound to @run_date in its SQL); None: today
    # (UTC). A backfill plans one action per date, so the date is part of the key.
    run_date: str | None = None

    @property
    def target(self) -> str:
        return self.name

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.target}" + (f"@{self.run_date}" if self.run_date else "")

    def to_dict(self) -> dict[str, Any]:
        d = super().to_dict()
        if d.get("run_date") is None:
            d.pop("run_date", None)  # undated (the planner's): the JSON stays as it was
        return d

    @property
    def dataset(self) -> str:
        return self.outputs[0].split(".")[0] if self.outputs else ""

    @property
    def stakes(self) -> Stakes:
        return Stakes(len(self.outputs), 0)

    def label(self) -> str:
        return self.name

    def touches(self, desired: Any) -> tuple[set[str], set[str]]:
        tr = desired.transforms.get(self.name)
        return _with_datasets({*self.outputs, *(tr.inputs if tr else ())})

    def taints(self) -> tuple[set[str], set[str]]:
        return set(self.outputs), set()


@dataclass(frozen=True, kw_only=True)
class Validate(OnTable, Action):
    """Expectations re-checked after the actions that change the table (a gate)."""

    table: str
    checks: tuple[str, ...]
    # (expectation kind, reason) the target declared as known gaps: failing them warns.
    known_gaps: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, kw_only=True)
class ExpectationFailed(OnTable, Action):
    """An expectation that fails now and that no planned action will fix."""

    table: str
    check: str
    expected: str
    observed: str
    diagnostic: ClassVar[bool] = True
    needs_attention: ClassVar[bool] = True

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.table}:{self.check}"

    def skip_reason(self) -> str:
        return f"{self.check}: expected {self.expected}, observed {self.observed}"


@dataclass(frozen=True, kw_only=True)
class Unmanaged(Action):
    """An object the spec does not own: listed, never touched."""

    object: str
    object_type: str
    rows: int = 0
    diagnostic: ClassVar[bool] = True

    @property
    def target(self) -> str:
        return self.object

    def label(self) -> str:
        return self.object

    def touches(self, desired: Any) -> tuple[set[str], set[str]]:
        return set(), set()  # listed, never touched: nothing depends on it

    def taints(self) -> tuple[set[str], set[str]]:
        return set(), set()

    def skip_reason(self) -> str:
        return f"{self.object_type} not in the spec: listed, never touched"


def _with_datasets(tables: set[str]) -> tuple[set[str], set[str]]:
    return tables, {t.split(".", 1)[0] for t in tables}


AnyAction = Union[
    CreateDataset, FlagRecreate, RelocateDataset, CreateTable, AddColumns, FlagSchemaConflict,
    CreateView, MergeLoad, RefuseLoad, MissingSource, BackupTable, MigrateTable, ArchiveDataset,
    RunTransform, Validate, ExpectationFailed, Unmanaged,
]
ACTIONS: tuple[type[Action], ...] = AnyAction.__args__  # type: ignore[attr-defined]


KNOWLEDGE = ("target", "label", "touches", "taints")


def _check_knowledge(classes: tuple[type[Action], ...]) -> None:
    """Every action class defines its knowledge itself or through a chosen mixin;
    a report-only class also says why it is skipped. Raises at import otherwise."""
    missing = []
    for cls in classes:
        needed = KNOWLEDGE + (("skip_reason",) if cls.diagnostic or cls.needs_attention else ())
        missing += [f"{cls.__name__}.{m}" for m in needed if getattr(cls, m) is getattr(Action, m)]
    if missing:
        raise TypeError("action knowledge not declared: " + ", ".join(missing))


_check_knowledge(ACTIONS)


class UnknownAction(TypeError):
    def __init__(self, action: object, where: str):
        super().__init__(f"{where}: no handler for action type {type(action).__name__}")


# Phase order, written once: the planner sorts by it and the tests check it.
PHASES: tuple[tuple[str, tuple[type[Action], ...]], ...] = (
    ("datasets", (CreateDataset, FlagRecreate, RelocateDataset)),
    ("tables", (CreateTable, AddColumns, FlagSchemaConflict)),
    ("backups", (BackupTable,)),
    ("migrations", (MigrateTable,)),
    ("loads", (MergeLoad, RefuseLoad, MissingSource)),
    ("transforms", (RunTransform,)),
    ("views", (CreateView,)),
    ("validations", (Validate, ExpectationFailed)),
    ("archive", (ArchiveDataset,)),
    ("unmanaged", (Unmanaged,)),
)


def phase_of(action: Action) -> int:
    for i, (_, types) in enumerate(PHASES):
        if isinstance(action, types):
            return i
    raise UnknownAction(action, "phase_of")


@dataclass(frozen=True)
class Plan:
    """An ordered list of actions plus what the plan was made from."""

    project: str
    actions: tuple[Action, ...]
    snapshot_taken_at: str | None = None
    notes: tuple[str, ...] = field(default=())

    @property
    def changes(self) -> tuple[Action, ...]:
        return tuple(a for a in self.actions if not a.diagnostic and not a.needs_attention
                     and not a.blocked_by)

    @property
    def known_gaps(self) -> tuple[Action, ...]:
        return tuple(a for a in self.actions if a.known_gap is not None)

    @property
    def blocked(self) -> tuple[Action, ...]:
        return tuple(a for a in self.actions if a.is_blocked)

    @property
    def unmanaged(self) -> tuple[Action, ...]:
        return tuple(a for a in self.actions if isinstance(a, Unmanaged))

    def exit_code(self) -> int:
        """0 in sync, 2 changes pending, 3 blocked (needs approval, gate failed, missing source)."""
        if self.blocked:
            return 3
        if self.changes:
            return 2
        return 0

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for a in self.actions:
            out[a.kind] = out.get(a.kind, 0) + 1
        return out
