"""The desired state as data: the strict pydantic models of a spec, and `SpecError`.

One model per YAML section (`Dataset`, `Table`, `Load`, `Migration`, `Archive`, ...),
`SpecFile` for one file as written, and `DesiredState` for the composed, validated
whole that every later stage reads. Models are strict and frozen: unknown keys are
errors and every identifier is checked (reconcile.identifiers) as it is parsed.
Reading YAML files and composing them is `reconcile.spec.load`.

This module is pure: no file reads (the loader resolves DDL and view files into
`DesiredState` so nothing downstream reads one), no BigQuery, no clock, no
environment. It is longer than 400 lines because it is the whole schema of the
spec format, one section after another; split, a reader would chase one file
format across several modules.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import functools
import re
from pathlib import Path
from typing import Any, Iterable, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from reconcile import identifiers as ids
from reconcile.spec.features import FeatureMatrix


class SpecError(Exception):
    """Bad desired state: names the file and the field."""

    def __init__(self, file: str | Path, field: str, message: str):
        self.file = str(file)
        self.field = field
        self.message = message
        # One line whatever the input: a field or message holding a newline or another
        # control character (a hostile key) is shown escaped.
        where = f"{self.file}: {_printable(field)}: " if field else f"{self.file}: "
        super().__init__(where + _printable(message))


def _printable(text: str) -> str:
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in str(text))


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


BQ_TYPES = frozenset(
    {
        "STRING", "BYTES", "INT64", "INTEGER", "FLOAT64", "FLOAT", "NUMERIC", "BIGNUMERIC",
        "BOOL", "BOOLEAN", "DATE", "DATETIME", "TIME", "TIMESTAMP", "JSON", "GEOGRAPHY",
    }
)
# Legacy spellings BigQuery reports in INFORMATION_SCHEMA and the API.
TYPE_ALIASES = {"INTEGER": "INT64", "FLOAT": "FLOAT64", "BOOLEAN": "BOOL"}


@functools.lru_cache(maxsize=4096)
def canonical_type(t: str) -> str:
    t = re.sub(r"\s+", " ", t.strip().upper())
    t = re.sub(r"\(.*\)$", "", t) if t.startswith(("NUMERIC", "BIGNUMERIC", "STRING", "BYTES")) else t
    return TYPE_ALIASES.get(t, t)


def is_bigquery_type(t: str) -> bool:
    """Whether a type (already canonical_type'd) is one BigQuery knows."""
    return t in BQ_TYPES or t.startswith(("ARRAY<", "STRUCT<"))


# The expectation kinds a transform's `fixes` and a known gap's `check` may name.
EXPECTATION_KINDS = frozenset(
    {"min_rows", "min_columns", "min_distinct", "ranges", "placeholders", "coverage"}
)


# BigQuery's limits on descriptions (https://cloud.google.com/bigquery/quotas#table_limits:
# a table's description at most 16,384 characters, a column's 1,024; datasets as tables).
TABLE_DESCRIPTION_MAX = 16384
COLUMN_DESCRIPTION_MAX = 1024


def _description(v: str | None, limit: int) -> str | None:
    if v is not None and len(v) > limit:
        raise ValueError(f"{len(v):,} characters, over BigQuery's limit of {limit:,}")
    return v


def _no_case_duplicates(names: list[str], what: str) -> None:
    """BigQuery column names are case-insensitive (https://cloud.google.com/bigquery/docs/schemas#column_names):
    `id` and `ID` are one column, declared twice."""
    if len({n.lower() for n in names}) == len(names):  # the common case, without a loop in Python
        return
    seen: dict[str, str] = {}
    for n in names:
        if n.lower() in seen:
            raise ValueError(f"{what} {n!r} and {seen[n.lower()]!r} differ only in case: BigQuery treats them "
                             "as one (names are case-insensitive)")
        seen[n.lower()] = n


# Columns already validated, by their YAML mapping (issue 16): a spec of 10,000 tables
# declares the same few columns 80,000 times, and building each Column (two validators in
# Python) was most of its validation. Only mappings of plain strings are kept (so equal
# keys mean equal input), at most COLUMN_CACHE_MAX of them; a Column is frozen and a pure
# function of its mapping, so one instance serves every equal mapping.
_COLUMNS: dict[tuple[tuple[Any, Any], ...], "Column"] = {}
COLUMN_CACHE_MAX = 10_000


@functools.lru_cache(maxsize=4096)
def _case_distinct(names: tuple[str, ...]) -> bool:
    """Whether no two names differ only in case (cached: tables repeat their column lists,
    and DesiredState runs each Table's checks again)."""
    return len({n.lower() for n in names}) == len(names)


class Column(_Model):
    name: str
    type: str
    mode: Literal["NULLABLE", "REQUIRED", "REPEATED"] = "NULLABLE"
    description: str | None = None

    @model_validator(mode="wrap")
    @classmethod
    def _cached(cls, data: Any, handler: Any) -> "Column":
        if type(data) is not dict:
            return handler(data)
        key = tuple(data.items())
        try:
            return _COLUMNS[key]
        except (KeyError, TypeError):  # TypeError: an unhashable value, refused by the handler
            pass
        column = handler(data)
        if len(_COLUMNS) < COLUMN_CACHE_MAX and all(type(k) is str and type(v) is str for k, v in key):
            _COLUMNS[key] = column
        return column

    @field_validator("description")
    @classmethod
    def _desc(cls, v: str | None) -> str | None:
        return _description(v, COLUMN_DESCRIPTION_MAX)

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return ids.check_column(v)

    @field_validator("type")
    @classmethod
    def _type(cls, v: str) -> str:
        base = canonical_type(v)
        if not is_bigquery_type(base):
            raise ValueError(f"unknown BigQuery type {v!r}")
        return base


class Dataset(_Model):
    location: str | None = None
    description: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)

    @field_validator("description")
    @classmethod
    def _desc(cls, v: str | None) -> str | None:
        return _description(v, TABLE_DESCRIPTION_MAX)

    @field_validator("location")
    @classmethod
    def _loc(cls, v: str | None) -> str | None:
        return None if v is None else ids.check_location(v)

    @field_validator("labels")
    @classmethod
    def _labels(cls, v: dict[str, str]) -> dict[str, str]:
        for k, val in v.items():
            ids.check_label(k, val)
        return v


class Range(_Model):
    min: float | None = None
    max: float | None = None


class Coverage(_Model):
    column: str
    start: dt.date = Field(alias="from")
    end: dt.date = Field(alias="to")
    # Market data starts on the first trading day: 2000-01-01 is a Saturday.
    # The range still counts as covered when its ends are this many days inside.
    tolerance_days: int = Field(default=7, ge=0)

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, populate_by_name=True)

    @field_validator("column")
    @classmethod
    def _col(cls, v: str) -> str:
        return ids.check_column(v)

    @model_validator(mode="after")
    def _order(self) -> "Coverage":
        if self.start > self.end:
            raise ValueError(f"'from' {self.start} is after 'to' {self.end}")
        return self


Scalar = str | int | float | bool


class Expectations(_Model):
    """Data expectations of one table (or every table a pattern matches)."""

    min_rows: int | None = Field(default=None, ge=0)
    min_columns: int | None = Field(default=None, ge=0)
    min_distinct: dict[str, int] = Field(default_factory=dict)
    ranges: dict[str, Range] = Field(default_factory=dict)
    placeholders: dict[str, list[Scalar]] = Field(default_factory=dict)
    coverage: Coverage | None = None

    @field_validator("min_distinct", "ranges", "placeholders")
    @classmethod
    def _cols(cls, v: dict) -> dict:
        for k in v:
            ids.check_column(k)
        return v

    def is_empty(self) -> bool:
        return not (
            self.min_rows is not None or self.min_columns is not None or self.min_distinct
            or self.ranges or self.placeholders or self.coverage
        )


class Table(_Model):
    ddl: str | None = None
    columns: list[Column] | None = None
    partition_by: str | None = None
    # BigQuery caps a job at 4,000 partitions touched: decades of daily data need
    # MONTH or YEAR partitions.
    partition_granularity: Literal["DAY", "MONTH", "YEAR"] = "DAY"
    cluster_by: list[str] = Field(default_factory=list)
    description: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    expect: Expectations | None = None

    @field_validator("description")
    @classmethod
    def _desc(cls, v: str | None) -> str | None:
        return _description(v, TABLE_DESCRIPTION_MAX)

    @model_validator(mode="after")
    def _one_source(self) -> "Table":
        if (self.ddl is None) == (self.columns is None):
            raise ValueError("a table needs exactly one of 'ddl' (a SQL file) or 'columns'")
        if self.columns:
            names = tuple([c.name for c in self.columns])
            if not _case_distinct(names):
                _no_case_duplicates(list(names), "columns")
        for c in self.cluster_by:
            ids.check_column(c)
        if self.partition_by:
            ids.check_column(self.partition_by)
        return self


class View(_Model):
    sql: str
    description: str | None = None

    @field_validator("description")
    @classmethod
    def _desc(cls, v: str | None) -> str | None:
        return _description(v, TABLE_DESCRIPTION_MAX)


class Intervals(_Model):
    """Rows are intervals [start, end] (inclusive dates) that must tile from..to:
    sorted by start, no gap, no overlap. For calendars the team edits by hand."""

    start: str
    end: str
    label: str | None = None
    covers_from: dt.date = Field(alias="from")
    covers_to: dt.date = Field(alias="to")

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, populate_by_name=True)

    @field_validator("start", "end", "label")
    @classmethod
    def _cols(cls, v: str | None) -> str | None:
        return None if v is None else ids.check_column(v)


class Load(_Model):
    """A staging file (Parquet, or CSV for small seed tables) merged into a table on
    its keys (never truncated), after the file passes its gates."""

    source: str
    table: str
    keys: list[str] = Field(min_length=1)
    min_rows: int | None = Field(default=None, ge=0)
    placeholders: dict[str, list[Scalar]] = Field(default_factory=dict)
    # File-level gates, checked on the file before anything is loaded.
    intervals: Intervals | None = None
    ranges: dict[str, Range] = Field(default_factory=dict)
    min_distinct: dict[str, int] = Field(default_factory=dict)
    # Several files into one table: which wins where their keys overlap (higher wins).
    # Without it, overlapping keys are refused (a row would flip between files each run).
    precedence: int | None = None

    @field_validator("table")
    @classmethod
    def _table(cls, v: str) -> str:
        ids.split_table_ref(v)
        return v

    @field_validator("keys")
    @classmethod
    def _keys(cls, v: list[str]) -> list[str]:
        for k in v:
            ids.check_column(k)
        if len({k.lower() for k in v}) != len(v):
            raise ValueError("duplicate key column")
        return v


class Rename(_Model):
    prefix: str = ""
    replace: tuple[str, str] | None = None

    model_config = ConfigDict(extra="forbid", strict=False, frozen=True)

    @field_validator("prefix")
    @classmethod
    def _prefix(cls, v: str) -> str:
        # Part of a table name: letters, digits, underscores (a backtick or a dot would
        # end the quoted name in SQL and reach another object).
        if v and not re.fullmatch(r"[A-Za-z0-9_]{1,512}", v):
            raise ValueError(f"invalid prefix {v!r}: letters, digits and underscores only")
        return v

    @field_validator("replace")
    @classmethod
    def _replace(cls, v: tuple[str, str] | None) -> tuple[str, str] | None:
        if v is not None:
            for part in v:
                if not re.fullmatch(r"[A-Za-z0-9_]{0,512}", part):
                    raise ValueError(f"invalid replace part {part!r}: letters, digits and underscores only")
            if not v[0]:
                raise ValueError("replace: the text to replace is empty")
        return v

    def apply(self, name: str) -> str:
        if self.replace is not None:
            old, new = self.replace
            if name.startswith(old):
                name = new + name[len(old):]
        return self.prefix + name


class Migration(_Model):
    """Legacy tables copied, after a backup, to a new dataset and name."""

    source: str  # "dataset.table_glob"
    to: str  # destination dataset
    rename: Rename = Field(default_factory=Rename)
    backup: bool = True

    @field_validator("source")
    @classmethod
    def _src(cls, v: str) -> str:
        if v.count(".") != 1:
            raise ValueError(f"expected 'dataset.table_pattern', got {v!r}")
        ds, pat = v.split(".")
        ids.check_dataset(ds)
        if not re.fullmatch(r"[A-Za-z0-9_*?-]+", pat):
            raise ValueError(f"invalid table pattern {pat!r}")
        return v

    @field_validator("to")
    @classmethod
    def _to(cls, v: str) -> str:
        return ids.check_dataset(v)

    @model_validator(mode="after")
    def _converges(self) -> "Migration":
        """A migration into its own dataset whose renamed outputs match its own pattern
        again (`market_data.fwd_*` -> `market_data`, prefix `fwd_`) copies its outputs on
        every apply: it never converges (issue 18: +8 tables per apply)."""
        if self.to != self.source_dataset:
            return self
        witness = re.sub(r"[*?]", "x", self.pattern)
        out = self.rename.apply(witness)
        if out == witness:
            raise ValueError(f"migrates {self.source} onto itself: give another 'to' or a rename")
        if fnmatch.fnmatchcase(out, self.pattern):
            raise ValueError(f"renamed outputs ({self.to}.{out} from {self.source_dataset}.{witness}) match "
                             f"its own source pattern {self.pattern!r} again: it would copy them on every apply")
        return self

    @property
    def source_dataset(self) -> str:
        return self.source.split(".")[0]

    def matches(self, dataset: str, table: str) -> bool:
        """Whether this migration takes `dataset.table`."""
        return dataset == self.source_dataset and fnmatch.fnmatchcase(table, self.pattern)

    def destination(self, table: str) -> str:
        """Where this migration copies `table` ("dataset.table")."""
        return f"{self.to}.{self.rename.apply(table)}"

    @property
    def pattern(self) -> str:
        return self.source.split(".")[1]


class Archive(_Model):
    """Backup datasets consolidated into one archive dataset."""

    dataset: str
    sources: list[str] = Field(min_length=1)  # dataset name patterns
    keep: list[str] = Field(default_factory=list)  # archived, never deleted
    delete_sources: bool = False

    @field_validator("dataset")
    @classmethod
    def _ds(cls, v: str) -> str:
        return ids.check_dataset(v)

    @field_validator("sources", "keep")
    @classmethod
    def _pats(cls, v: list[str]) -> list[str]:
        for p in v:
            if not re.fullmatch(r"[A-Za-z0-9_*?]+", p):
                raise ValueError(f"invalid dataset pattern {p!r}")
        return v

    def matches(self, dataset: str) -> bool:
        return dataset != self.dataset and any(fnmatch.fnmatchcase(dataset, p) for p in self.sources)

    def keeps(self, dataset: str) -> bool:
        return any(fnmatch.fnmatchcase(dataset, p) for p in self.keep)


class Transform(_Model):
    sql: str
    schedule: str | None = None
    inputs: list[str] = Field(default_factory=list)
    outputs: list[str] = Field(default_factory=list)
    fixes: list[str] = Field(default_factory=list)  # "dataset.table_pattern:expectation"
    description: str | None = None
    # Destructive statements this transform may run, each named by its subject as the plan
    # shows it ("DROP TABLE scratch.tmp", "DELETE scratch.tmp"): anything else destructive
    # in its SQL, or a write outside the spec's managed objects, blocks the plan.
    allow: list[str] = Field(default_factory=list)
    # A feature matrix declared as data (reconcile.spec.features): `sql` is then generated
    # from it, and the loader refuses a file that is not exactly the generated text.
    features: FeatureMatrix | None = None

    @field_validator("inputs", "outputs")
    @classmethod
    def _refs(cls, v: list[str]) -> list[str]:
        for r in v:
            ids.split_table_ref(r)
        return v


class SqlInfo(_Model):
    """What one SQL file of the spec does, read from its syntax tree when the spec is
    loaded (reconcile.spec.sqlparse), so the planner and lint never parse or read a file."""

    file: str
    statements: list[tuple[int, str]]  # (line, kind) in order: (3, "MERGE")
    reads: list[str]  # "dataset.table" read (a wildcard keeps its '*')
    writes: list[str]  # tables whose rows or schema it changes
    creates: list[str]  # tables and views it creates
    destructive: list[tuple[int, str]] = Field(default_factory=list)  # (line, why)
    outside: list[tuple[int, str]] = Field(default_factory=list)  # (line, "project.dataset.table")
    # (line, subject, why) of each destructive statement; `subject` is what an allow names.
    destroying: list[tuple[int, str, str]] = Field(default_factory=list)
    # (line, "dataset.table") of each write, in order: where a write outside the managed objects is.
    write_lines: list[tuple[int, str]] = Field(default_factory=list)
    sha256: str = ""  # of the text as loaded: the executor refuses a file that differs

    @property
    def inputs(self) -> list[str]:
        """Tables read that the file does not write itself."""
        return [r for r in self.reads if r not in set(self.writes)]


class Waiver(_Model):
    """A lint rule waived for one object, with the reason (see reconcile/lint.py)."""

    rule: str
    object: str
    reason: str

    @field_validator("rule", "object", "reason")
    @classmethod
    def _not_blank(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("must not be empty")
        return v.strip()


class ReferenceWaiver(_Model):
    """A reference to a legacy dataset accepted, with the reason (like a lint waiver): it
    no longer blocks that dataset's deletion or retirement. `object` is what holds the
    reference (a view or routine "dataset.name", or a file path); `reads` the legacy
    table it reads (both may be globs)."""

    object: str
    reads: str = "*"
    reason: str

    @field_validator("object", "reads", "reason")
    @classmethod
    def _not_blank(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("must not be empty")
        return v.strip()

    def matches(self, holder: str, legacy: str) -> bool:
        return fnmatch.fnmatchcase(holder, self.object) and fnmatch.fnmatchcase(legacy, self.reads)


class References(_Model):
    """Where else the legacy datasets may be read from: files under the project root
    (globs, `**` for any depth) scanned for SQL — .sql files parsed whole, .py files'
    string literals found through Python's ast — beside the spec's own SQL files and
    the live views and routines; and the references accepted, with a reason."""

    scan: list[str] = Field(default_factory=list)
    waivers: list[ReferenceWaiver] = Field(default_factory=list)

    @field_validator("scan")
    @classmethod
    def _globs(cls, v: list[str]) -> list[str]:
        for g in v:
            if not g.strip() or "\x00" in g:
                raise ValueError("empty or invalid path pattern")
            if g.startswith("/") or ".." in Path(g).parts:
                raise ValueError(f"path pattern {g!r} escapes the project directory")
            if not g.endswith((".sql", ".py")):
                raise ValueError(f"path pattern {g!r}: only .sql and .py files are scanned")
        return v


class FileReference(_Model):
    """One reference to a legacy dataset's table in a file (the spec's SQL files and the
    scanned ones), read at load time so the planner never reads a file."""

    file: str  # relative to the project root
    line: int
    table: str  # "dataset.table" as written (a wildcard table keeps its '*')
    kind: Literal["spec SQL", "SQL file", "Python"]


class KnownGap(_Model):
    """A gate this target's data cannot meet, declared with the reason (like dbt's
    `severity: warn`, per target): still checked and reported every run, but it does
    not block. On any other target the same gate blocks."""

    object: str  # table or table pattern, e.g. "training.*"
    check: str  # an expectation kind (min_rows, coverage, ...) or "missing_source"
    reason: str

    @field_validator("check")
    @classmethod
    def _check(cls, v: str) -> str:
        if v not in EXPECTATION_KINDS | {"missing_source"}:
            raise ValueError(f"unknown check {v!r}; one of {sorted(EXPECTATION_KINDS | {'missing_source'})}")
        return v

    @field_validator("reason")
    @classmethod
    def _reason(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("a known gap needs a reason")
        return v.strip()

    def matches(self, table: str, check: str) -> bool:
        return check == self.check and fnmatch.fnmatchcase(table, self.object)


class Target(_Model):
    type: Literal["local", "bigquery"]
    project: str | None = None
    credentials_block: str | None = None
    data_dir: str | None = None
    known_gaps: list[KnownGap] = Field(default_factory=list)
    # How a dataset is moved to another location: "replica" (BigQuery's dataset replication;
    # the bigquery target's default) or "copy" (through <name>__relocating; the local target's
    # default, and where replication is not allowed). None: the target type's default.
    relocation: Literal["copy", "replica"] | None = None

    @field_validator("project")
    @classmethod
    def _proj(cls, v: str | None) -> str | None:
        return None if v is None else ids.check_project(v)


class SpecFile(_Model):
    """One YAML file as written; several compose a DesiredState."""

    version: Literal[1] = 1
    project: str | None = None
    default_location: str | None = None
    ops_dataset: str | None = None
    include: list[str] = Field(default_factory=list)
    placeholder_values: list[Scalar] | None = None
    targets: dict[str, Target] = Field(default_factory=dict)
    datasets: dict[str, Dataset] = Field(default_factory=dict)
    tables: dict[str, Table] = Field(default_factory=dict)
    views: dict[str, View] = Field(default_factory=dict)
    loads: list[Load] = Field(default_factory=list)
    migrations: list[Migration] = Field(default_factory=list)
    archive: Archive | None = None
    expectations: dict[str, Expectations] = Field(default_factory=dict)
    transforms: dict[str, Transform] = Field(default_factory=dict)
    staging_dir: str | None = None
    waivers: list[Waiver] = Field(default_factory=list)
    # Issue 17 (references and retirement): where else legacy datasets are read, and the
    # legacy datasets to delete once migrated, verified, archived and unreferenced.
    references: References | None = None
    retire: list[str] = Field(default_factory=list)

    @field_validator("retire")
    @classmethod
    def _retire(cls, v: list[str]) -> list[str]:
        for ds in v:
            ids.check_dataset(ds)
        if len(set(v)) != len(v):
            raise ValueError("a dataset listed twice")
        return v


# Values the migration plan calls placeholders when they appear in staging data.
DEFAULT_PLACEHOLDERS: tuple[Scalar, ...] = (
    "placeholder", "PLACEHOLDER", "TODO", "TBD", "dummy", "DUMMY", "fake", "FAKE", "lorem ipsum",
)


class DesiredState(_Model):
    """The whole desired state of one project, composed and validated."""

    project: str
    default_location: str
    ops_dataset: str = "ops"
    root: str  # project root directory all relative paths resolve against
    files: list[str]
    staging_dir: str = "staging"
    placeholder_values: list[Scalar] = Field(default_factory=lambda: list(DEFAULT_PLACEHOLDERS))
    targets: dict[str, Target]
    datasets: dict[str, Dataset]
    tables: dict[str, Table]
    views: dict[str, View]
    loads: list[Load]
    migrations: list[Migration]
    archive: Archive | None
    expectations: dict[str, Expectations]
    transforms: dict[str, Transform]
    waivers: list[Waiver] = Field(default_factory=list)  # lint rules waived per object
    references: References = Field(default_factory=References)
    retire: list[str] = Field(default_factory=list)  # legacy datasets to delete once safe
    # Every reference to a legacy dataset's table in the spec's SQL files and the scanned
    # files (reconcile.spec.references), read at load time.
    file_references: list[FileReference] = Field(default_factory=list)
    # Resolved from files at load time, so the planner never reads a file.
    ddl_statements: dict[str, str] = Field(default_factory=dict)
    ddl_columns: dict[str, list[tuple[str, str, str]]] = Field(default_factory=dict)
    view_sql: dict[str, str] = Field(default_factory=dict)
    # Every SQL file the spec references (DDL, views, transforms), parsed: path -> SqlInfo.
    sql_info: dict[str, SqlInfo] = Field(default_factory=dict)
    # Each transform's SQL as loaded and checked (name -> text): what the executor sends.
    transform_sql: dict[str, str] = Field(default_factory=dict)
    # Transforms whose outputs the spec does not list (filled from their SQL): what they
    # write is theirs only where nothing else owns it (plan.compare.transforms).
    outputs_from_sql: list[str] = Field(default_factory=list)

    def columns_of(self, table_ref: str) -> list[tuple[str, str, str]] | None:
        """Declared (name, type, mode) columns of a table, from YAML or its DDL file."""
        t = self.tables.get(table_ref)
        if t is None:
            return None
        if t.columns is not None:
            return [(c.name, c.type, c.mode) for c in t.columns]
        return [(n, canonical_type(ty), m) for n, ty, m in self.ddl_columns.get(table_ref, [])]

    def view_reads(self, view: str) -> list[str]:
        """The tables a declared view reads, from its parsed SQL."""
        v = self.views.get(view)
        info = self.sql_info.get(v.sql) if v else None
        return list(info.reads) if info else []

    def transform_creates(self, name: str) -> list[str]:
        """The tables a transform's script creates itself (CREATE TABLE [IF NOT EXISTS])."""
        tr = self.transforms.get(name)
        info = self.sql_info.get(tr.sql) if tr else None
        return list(info.creates) if info else []

    def legacy_datasets(self, live: "Iterable[str]" = ()) -> list[str]:
        """The datasets the spec migrates from, archives or retires (of the live ones, for
        archive patterns): the ones whose references matter."""
        out = {mg.source_dataset for mg in self.migrations} | set(self.retire)
        if self.archive is not None:
            out |= {ds for ds in live if self.archive.matches(ds)}
            out |= {p for p in self.archive.sources if not any(c in p for c in "*?[")}
        return sorted(ds for ds in out if ds not in self.datasets)

    def is_legacy(self, dataset: str) -> bool:
        """Whether a dataset is one the spec migrates from, archives or retires."""
        if dataset in self.datasets:
            return False
        if dataset in self.retire or any(mg.source_dataset == dataset for mg in self.migrations):
            return True
        return self.archive is not None and self.archive.matches(dataset)

    def migrated_name(self, ref: str) -> str | None:
        """The new name of a legacy table under the spec's migrations ("dataset.table"), or
        None: the first migration whose source matches it decides (as the planner's)."""
        ds, _, table = ref.partition(".")
        for mg in self.migrations:
            if mg.matches(ds, table):
                return mg.destination(table)
        return None

    def location_of(self, dataset: str) -> str:
        d = self.datasets.get(dataset)
        return (d.location if d and d.location else None) or self.default_location

    def path(self, rel: str) -> Path:
        return Path(self.root) / rel

    def expectations_for(self, table_ref: str) -> Expectations | None:
        """All expectations that apply to a table: its own plus matching patterns, merged."""
        found: list[Expectations] = []
        t = self.tables.get(table_ref)
        if t is not None and t.expect is not None:
            found.append(t.expect)
        for pattern, exp in sorted(self.expectations.items()):
            if fnmatch.fnmatchcase(table_ref, pattern):
                found.append(exp)
        if not found:
            return None
        merged: dict[str, Any] = {}
        for e in found:
            for k, v in e.model_dump(by_alias=True, exclude_defaults=True).items():
                if isinstance(v, dict) and k != "coverage":
                    merged.setdefault(k, {}).update(v)
                else:
                    merged[k] = v
        return Expectations.model_validate(merged, strict=False)
