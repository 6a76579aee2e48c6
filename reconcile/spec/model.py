"""The desired state: what a user declares must be true of a BigQuery project.

`load_spec(path)` reads one YAML file (and the files it `include`s), validates it
with strict pydantic models (unknown keys are errors, identifiers are checked,
every referenced file must exist inside the project) and returns a frozen
`DesiredState`. Errors are raised as `SpecError`, one message naming the file and
the field. This module reads local files only; it never talks to BigQuery.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import functools
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from reconcile import identifiers as ids


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


class Column(_Model):
    name: str
    type: str
    mode: Literal["NULLABLE", "REQUIRED", "REPEATED"] = "NULLABLE"
    description: str | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return ids.check_column(v)

    @field_validator("type")
    @classmethod
    def _type(cls, v: str) -> str:
        base = canonical_type(v)
        if base not in BQ_TYPES and not base.startswith(("ARRAY<", "STRUCT<")):
            raise ValueError(f"unknown BigQuery type {v!r}")
        return base


class Dataset(_Model):
    location: str | None = None
    description: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)

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

    @model_validator(mode="after")
    def _one_source(self) -> "Table":
        if (self.ddl is None) == (self.columns is None):
            raise ValueError("a table needs exactly one of 'ddl' (a SQL file) or 'columns'")
        for c in self.cluster_by:
            ids.check_column(c)
        if self.partition_by:
            ids.check_column(self.partition_by)
        return self


class View(_Model):
    sql: str
    description: str | None = None


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
        if len(set(v)) != len(v):
            raise ValueError("duplicate key column")
        return v


class Rename(_Model):
    prefix: str = ""
    replace: tuple[str, str] | None = None

    model_config = ConfigDict(extra="forbid", strict=False, frozen=True)

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

    @property
    def source_dataset(self) -> str:
        return self.source.split(".")[0]

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

    @field_validator("inputs", "outputs")
    @classmethod
    def _refs(cls, v: list[str]) -> list[str]:
        for r in v:
            ids.split_table_ref(r)
        return v


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
    # Resolved from files at load time, so the planner never reads a file.
    ddl_statements: dict[str, str] = Field(default_factory=dict)
    ddl_columns: dict[str, list[tuple[str, str, str]]] = Field(default_factory=dict)
    view_sql: dict[str, str] = Field(default_factory=dict)

    def columns_of(self, table_ref: str) -> list[tuple[str, str, str]] | None:
        """Declared (name, type, mode) columns of a table, from YAML or its DDL file."""
        t = self.tables.get(table_ref)
        if t is None:
            return None
        if t.columns is not None:
            return [(c.name, c.type, c.mode) for c in t.columns]
        return [(n, canonical_type(ty), m) for n, ty, m in self.ddl_columns.get(table_ref, [])]

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


def _fmt_loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


class _UniqueKeyLoader(yaml.SafeLoader):
    """yaml.safe_load, except that a key given twice in one mapping is an error: PyYAML
    keeps the last one silently, so a table or dataset declared twice would lose the
    first declaration without a word."""

    def construct_mapping(self, node, deep=False):
        seen: dict = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                hash(key)
            except TypeError:
                continue  # unhashable keys fail in the base class with its own message
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping", node.start_mark,
                    f"key {key!r} given twice (first on line {seen[key].line + 1})", key_node.start_mark)
            seen[key] = key_node.start_mark
        return super().construct_mapping(node, deep=deep)


def _read_yaml(path: Path, display: str) -> dict:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError(display, "", "file not found") from None
    except (OSError, UnicodeDecodeError) as e:
        raise SpecError(display, "", f"cannot read: {e}") from None
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(e, "problem", None) or str(e)
        raise SpecError(display, where, f"malformed YAML: {problem}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise SpecError(display, "", f"expected a mapping at the top, got {type(data).__name__}")
    return data


def _parse_file(path: Path, display: str) -> SpecFile:
    data = _read_yaml(path, display)
    try:
        return SpecFile.model_validate(data)
    except ValidationError as e:
        err = e.errors()[0]
        field = _fmt_loc(err["loc"])
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown key"
        elif msg.startswith("Value error, "):
            msg = msg[len("Value error, "):]
        extra = f" ({len(e.errors()) - 1} more error(s))" if len(e.errors()) > 1 else ""
        raise SpecError(display, field, msg + extra) from None


def resolve_in_root(root: Path, rel: str, display: str, field: str, must_exist: bool = True) -> Path:
    """Resolve a path from the spec; refuse anything that escapes the project root."""
    if not isinstance(rel, str) or not rel or "\x00" in rel:
        raise SpecError(display, field, "empty or invalid path")
    p = Path(rel)
    if p.is_absolute():
        raise SpecError(display, field, f"absolute path {rel!r} not allowed: give a path inside the project")
    full = (root / p).resolve()
    try:
        full.relative_to(root.resolve())
    except ValueError:
        raise SpecError(display, field, f"path {rel!r} escapes the project directory") from None
    if must_exist and not full.is_file():
        raise SpecError(display, field, f"file {rel!r} not found")
    return full


def find_root(spec_path: Path) -> Path:
    """The project root: the nearest parent holding pyproject.toml or desired_state/."""
    spec_path = spec_path.resolve()
    for parent in [spec_path.parent, *spec_path.parents]:
        if (parent / "pyproject.toml").exists() or parent.name == "desired_state":
            return parent.parent if parent.name == "desired_state" else parent
    return spec_path.parent


def load_spec(path: str | Path, root: str | Path | None = None) -> DesiredState:
    """Load, compose and validate a desired state; raise SpecError on any problem."""
    path = Path(path)
    root_p = Path(root).resolve() if root else find_root(path)

    def display(p: Path) -> str:
        try:
            return str(p.resolve().relative_to(root_p))
        except ValueError:
            return str(p)

    files: list[tuple[Path, SpecFile]] = []
    seen: set[Path] = set()

    def visit(p: Path) -> None:
        rp = p.resolve()
        if rp in seen:
            raise SpecError(display(p), "include", "file included twice (cycle?)")
        seen.add(rp)
        sf = _parse_file(p, display(p))
        files.append((p, sf))
        for i, inc in enumerate(sf.include):
            target = (p.parent / inc).resolve()
            if Path(inc).is_absolute() or not target.is_relative_to(root_p):
                raise SpecError(display(p), f"include[{i}]", f"path {inc!r} escapes the project directory")
            if not target.is_file():
                raise SpecError(display(p), f"include[{i}]", f"file {inc!r} not found")
            visit(target)

    visit(path)
    main_disp = display(path)
    main = files[0][1]
    if not main.project:
        raise SpecError(main_disp, "project", "required in the top-level spec")
    try:
        ids.check_project(main.project)
    except ids.IdentifierError as e:
        raise SpecError(main_disp, "project", str(e)) from None
    if not main.default_location:
        raise SpecError(main_disp, "default_location", "required in the top-level spec")
    try:
        default_location = ids.check_location(main.default_location)
    except ids.IdentifierError as e:
        raise SpecError(main_disp, "default_location", str(e)) from None

    merged: dict[str, Any] = {
        "targets": {}, "datasets": {}, "tables": {}, "views": {}, "expectations": {},
        "transforms": {}, "loads": [], "migrations": [], "waivers": [],
    }
    origin: dict[tuple[str, str], str] = {}
    archive: Archive | None = None
    placeholder_values = list(DEFAULT_PLACEHOLDERS)
    staging_dir = "staging"
    ops_dataset = "ops"
    for p, sf in files:
        d = display(p)
        if p is not files[0][0] and (sf.project or sf.default_location):
            raise SpecError(d, "project" if sf.project else "default_location",
                            "only the top-level spec may set this")
        for section in ("targets", "datasets", "tables", "views", "expectations", "transforms"):
            for name, obj in getattr(sf, section).items():
                if name in merged[section]:
                    raise SpecError(d, f"{section}.{name}",
                                    f"already declared in {origin[(section, name)]}")
                merged[section][name] = obj
                origin[(section, name)] = d
        for i, ld in enumerate(sf.loads):
            merged["loads"].append(ld)
            origin[("loads", str(len(merged["loads"]) - 1))] = f"{d}: loads[{i}]"
        merged["migrations"].extend(sf.migrations)
        merged["waivers"].extend(sf.waivers)
        if sf.archive is not None:
            if archive is not None:
                raise SpecError(d, "archive", "declared in more than one file")
            archive = sf.archive
        if sf.placeholder_values is not None:
            placeholder_values = list(sf.placeholder_values)
        if sf.staging_dir:
            staging_dir = sf.staging_dir
        if sf.ops_dataset:
            ops_dataset = sf.ops_dataset

    _check_references(root_p, main_disp, merged, archive, ops_dataset, staging_dir)
    resolved = _resolve_files(root_p, main_disp, merged)
    if not merged["targets"]:
        merged["targets"] = {"local": Target(type="local"), "bigquery": Target(type="bigquery")}

    return DesiredState(
        project=main.project,
        default_location=default_location,
        ops_dataset=ops_dataset,
        root=str(root_p),
        files=[display(p) for p, _ in files],
        staging_dir=staging_dir,
        placeholder_values=placeholder_values,
        archive=archive,
        **merged,
        **resolved,
    )


def _resolve_files(root: Path, disp: str, m: dict[str, Any]) -> dict[str, Any]:
    """Read DDL and view files once, at load time, and check them."""
    from reconcile.spec import ddl as ddlmod

    statements: dict[str, str] = {}
    cols: dict[str, list[tuple[str, str, str]]] = {}
    parsed_files: dict[str, dict] = {}
    for ref, t in m["tables"].items():
        if t.ddl is None:
            continue
        field = f"tables.{ref}.ddl"
        if t.ddl not in parsed_files:
            path = resolve_in_root(root, t.ddl, disp, field)
            try:
                parsed_files[t.ddl] = ddlmod.tables_in_file(path.read_text(encoding="utf-8"))
            except (ddlmod.DDLError, UnicodeDecodeError) as e:
                raise SpecError(t.ddl, "", f"bad DDL: {e}") from None
        found = parsed_files[t.ddl]
        if ref not in found:
            raise SpecError(disp, field, f"{t.ddl} has no CREATE TABLE for {ref} "
                            f"(it creates: {', '.join(sorted(found)) or 'nothing'})")
        stmt, columns = found[ref]
        for name, typ, _ in columns:
            try:
                ids.check_column(name)
            except ids.IdentifierError as e:
                raise SpecError(t.ddl, f"{ref}.{name}", str(e)) from None
            base = canonical_type(typ)
            if base not in BQ_TYPES and not base.startswith(("ARRAY<", "STRUCT<")):
                raise SpecError(t.ddl, f"{ref}.{name}", f"unknown BigQuery type {typ!r}")
        statements[ref] = stmt
        cols[ref] = columns
    views: dict[str, str] = {}
    for ref, v in m["views"].items():
        path = resolve_in_root(root, v.sql, disp, f"views.{ref}.sql")
        text = path.read_text(encoding="utf-8").strip().rstrip(";").strip()
        if not text:
            raise SpecError(v.sql, "", "empty view definition")
        views[ref] = text
    return {"ddl_statements": statements, "ddl_columns": cols, "view_sql": views}


def _check_references(root: Path, disp: str, m: dict[str, Any], archive: Archive | None,
                      ops_dataset: str, staging_dir: str) -> None:
    """Cross-field rules: every name refers to a declared dataset, every file exists."""
    datasets = m["datasets"]
    try:
        ids.check_dataset(ops_dataset)
    except ids.IdentifierError as e:
        raise SpecError(disp, "ops_dataset", str(e)) from None
    for name in datasets:
        try:
            ids.check_dataset(name)
        except ids.IdentifierError as e:
            raise SpecError(disp, f"datasets.{name}", str(e)) from None
    resolve_in_root(root, staging_dir, disp, "staging_dir", must_exist=False)

    def need_dataset(ref_ds: str, field: str) -> None:
        if ref_ds not in datasets:
            raise SpecError(disp, field, f"dataset {ref_ds!r} is not declared under 'datasets'")

    for section in ("tables", "views"):
        for ref, obj in m[section].items():
            try:
                ds, _ = ids.split_table_ref(ref)
            except ids.IdentifierError as e:
                raise SpecError(disp, f"{section}.{ref}", str(e)) from None
            need_dataset(ds, f"{section}.{ref}")
            path_field = "ddl" if section == "tables" else "sql"
            rel = getattr(obj, path_field)
            if rel is not None:
                resolve_in_root(root, rel, disp, f"{section}.{ref}.{path_field}")
    for i, ld in enumerate(m["loads"]):
        ds, _ = ids.split_table_ref(ld.table)
        need_dataset(ds, f"loads[{i}].table")
        if ld.table not in m["tables"]:
            raise SpecError(disp, f"loads[{i}].table", f"table {ld.table!r} is not declared under 'tables'")
        resolve_in_root(root, ld.source, disp, f"loads[{i}].source", must_exist=False)
        if not ld.source.endswith((".parquet", ".csv")):
            raise SpecError(disp, f"loads[{i}].source", "staging files must be Parquet (.parquet) or CSV (.csv)")
    for i, mg in enumerate(m["migrations"]):
        need_dataset(mg.to, f"migrations[{i}].to")
    for name, tr in m["transforms"].items():
        resolve_in_root(root, tr.sql, disp, f"transforms.{name}.sql")
        for j, out in enumerate(tr.outputs):
            need_dataset(out.split(".")[0], f"transforms.{name}.outputs[{j}]")
        for j, fix in enumerate(tr.fixes):
            if ":" not in fix:
                raise SpecError(disp, f"transforms.{name}.fixes[{j}]",
                                "expected 'dataset.table_pattern:expectation'")
            _, kind = fix.rsplit(":", 1)
            if kind not in EXPECTATION_KINDS:
                raise SpecError(disp, f"transforms.{name}.fixes[{j}]",
                                f"unknown expectation {kind!r}; one of {sorted(EXPECTATION_KINDS)}")
    for pattern in m["expectations"]:
        if pattern.count(".") != 1 or not re.fullmatch(r"[A-Za-z0-9_*?.-]+", pattern):
            raise SpecError(disp, f"expectations.{pattern}", "expected 'dataset.table_pattern'")
    if archive is not None:
        need_dataset(archive.dataset, "archive.dataset")
    if ops_dataset not in datasets:
        raise SpecError(disp, "ops_dataset", f"dataset {ops_dataset!r} is not declared under 'datasets'")


EXPECTATION_KINDS = frozenset(
    {"min_rows", "min_columns", "min_distinct", "ranges", "placeholders", "coverage"}
)
