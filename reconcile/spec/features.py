"""Engineered features as data: the `features:` block of a transform that builds a feature matrix.

A feature matrix (cbi-v14's `features.master_features`) has one row per date and
two kinds of columns, both declared in the spec:

* **source columns**, pivoted from the input tables (`sources`): a long table gives one
  column per (key, field) (`yahoo_<symbol>_<field>`), a wide one one per field;
* **engineered columns**, from `families` over source columns: lags, returns and
  changes over N rows, rolling mean / std / min / max / z-score over N-row windows,
  ratios and spreads between two named source columns, calendar parts of the date.

`FeatureMatrix.columns()` lists every column with its lineage (source columns, family,
parameters): the SQL generator (reconcile.spec.features_sql) renders exactly these,
and the lineage table records them. Validation happens at load, each error naming the
field: an unknown or non-numeric source column, a bad window, a duplicate output name
(case-insensitively, as BigQuery compares them), more than BigQuery's 10,000 columns.

Pure: no file reads, no BigQuery, no SQL text (that is features_sql).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from reconcile import identifiers as ids

# BigQuery's limit on columns in a table (https://cloud.google.com/bigquery/quotas#table_limits).
MAX_TABLE_COLUMNS = 10_000
# A window longer than this (about 40 years of daily rows) is a typo, not a feature.
MAX_WINDOW = 10_000
_PART = re.compile(r"^[a-z0-9_]{0,100}$")
NUMERIC = ("INT64", "FLOAT64")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


def _part(v: str, what: str) -> str:
    """A piece of a column name: lower-case letters, digits, underscores."""
    if not _PART.match(v):
        raise ValueError(f"invalid {what} {v!r}: lower-case letters, digits and underscores only")
    return v


class SourceField(_Strict):
    """One column of a source table; `name` is its part of the feature name ('' for a
    long table's single value column: the feature is then `<prefix>_<key>`)."""

    column: str
    name: str = ""
    type: Literal["FLOAT64", "INT64", "STRING"] = "FLOAT64"

    @field_validator("column")
    @classmethod
    def _column(cls, v: str) -> str:
        return ids.check_column(v)

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return _part(v, "name")


class FeatureSource(_Strict):
    """An input table pivoted to one row per date (per month / quarter for `period`)."""

    name: str  # the CTE's name in the SQL
    table: str
    prefix: str = ""
    key: str | None = None  # a long table's key column (symbol, series, station)
    keys: dict[str, str] = Field(default_factory=dict)  # key value -> name part, in column order
    fields: list[SourceField] = Field(min_length=1)
    period: Literal["day", "month", "quarter"] = "day"

    @field_validator("name")
    @classmethod
    def _cte(cls, v: str) -> str:
        if not re.fullmatch(r"[a-z][a-z0-9_]{0,62}", v):
            raise ValueError(f"invalid source name {v!r}: a lower-case SQL name")
        return v

    @field_validator("table")
    @classmethod
    def _table(cls, v: str) -> str:
        ids.split_table_ref(v)
        return v

    @field_validator("prefix")
    @classmethod
    def _prefix(cls, v: str) -> str:
        return _part(v, "prefix")

    @field_validator("keys")
    @classmethod
    def _keys(cls, v: dict[str, str]) -> dict[str, str]:
        for value, part in v.items():
            # Key values become SQL string literals: no quote or backslash to escape.
            if not value or "'" in value or "\\" in value or not value.isprintable():
                raise ValueError(f"key value {value!r}: printable, without quotes or backslashes")
            _part(part, "key name")
        return v

    @model_validator(mode="after")
    def _shape(self) -> FeatureSource:
        if (self.key is None) != (not self.keys):
            raise ValueError(f"source {self.name}: a long table gives both `key` and `keys`, a wide one neither")
        if self.key is not None:
            ids.check_column(self.key)
        return self

    def columns(self) -> list[tuple[str, str, str, str | None]]:
        """(feature name, type, source column, key value) in column order."""
        keys = list(self.keys.items()) or [(None, "")]
        return [("_".join(p for p in (self.prefix, part, f.name or (f.column if self.key is None else ""))
                          if p), f.type, f.column, value)
                for value, part in keys for f in self.fields]


WindowKind = Literal["lag", "return", "change", "rolling_mean", "rolling_std", "rolling_min",
                     "rolling_max", "zscore"]
# The suffix each kind appends to its source column's name: `<column>_<suffix>_<n>`.
SUFFIX = {"lag": "lag", "return": "ret", "change": "chg", "rolling_mean": "mean", "rolling_std": "std",
          "rolling_min": "min", "rolling_max": "max", "zscore": "z"}


class WindowFamily(_Strict):
    """One kind of window feature over each `over` column, for each N in `windows`:
    N rows back (lag, return, change) or the last N rows (rolling_*, zscore)."""

    family: WindowKind
    over: list[str] = Field(min_length=1)
    windows: list[int] = Field(min_length=1)

    @field_validator("windows")
    @classmethod
    def _windows(cls, v: list[int]) -> list[int]:
        for n in v:
            if not 1 <= n <= MAX_WINDOW:
                raise ValueError(f"window {n}: must be between 1 and {MAX_WINDOW:,} rows")
        if len(set(v)) != len(v):
            raise ValueError(f"duplicate window in {v}")
        return v

    @model_validator(mode="after")
    def _std_needs_two(self) -> WindowFamily:
        if self.family in ("rolling_std", "zscore") and min(self.windows) < 2:
            raise ValueError(f"{self.family}: a standard deviation needs a window of at least 2 rows")
        return self


class PairFamily(_Strict):
    """`ratio` (a / b, NULL when b is 0) or `spread` (a - b) of two source columns."""

    family: Literal["ratio", "spread"]
    pairs: list[list[str]] = Field(min_length=1)

    @field_validator("pairs")
    @classmethod
    def _pairs(cls, v: list[list[str]]) -> list[list[str]]:
        for p in v:
            if len(p) != 2 or p[0] == p[1]:
                raise ValueError(f"pair {p}: two different source columns")
        return v


CalendarPart = Literal["year", "quarter", "month", "day_of_month", "day_of_week", "day_of_year"]


class CalendarFamily(_Strict):
    """Parts of the row's date, as BigQuery's EXTRACT numbers them (day_of_week 1 = Sunday)."""

    family: Literal["calendar"]
    parts: list[CalendarPart] = Field(min_length=1)


Family = Annotated[Union[WindowFamily, PairFamily, CalendarFamily], Field(discriminator="family")]


@dataclass(frozen=True)
class FeatureColumn:
    """One column of the matrix and its lineage."""

    name: str
    type: str
    family: str  # "source" for a pivoted source column
    inputs: tuple[str, ...]  # source columns it is computed from (for "source": the table column)
    parameters: str  # "window=21 rows", "key=^GSPC", ...
    source: str = ""  # the FeatureSource.name whose rows a window runs over ('' if none)
    window: int = 0
    key: str | None = None

    @property
    def lineage(self) -> str:
        """One line a reader can check: family(inputs; parameters)."""
        return f"{self.family}({', '.join(self.inputs)}{'; ' + self.parameters if self.parameters else ''})"


class FeatureMatrix(_Strict):
    """The `features:` block of a transform: its sources, families and lineage table."""

    target: str
    lineage_table: str
    sources: list[FeatureSource] = Field(min_length=1)
    families: list[Family] = Field(default_factory=list)
    # Declared source tables that hold no data yet: no columns, named in the SQL's header.
    pending: dict[str, str] = Field(default_factory=dict)

    @field_validator("target", "lineage_table")
    @classmethod
    def _ref(cls, v: str) -> str:
        ids.split_table_ref(v)
        return v

    @field_validator("pending")
    @classmethod
    def _pending(cls, v: dict[str, str]) -> dict[str, str]:
        for ref, why in v.items():
            ids.split_table_ref(ref)
            # Written into the SQL's header comment: one printable line.
            if not why.isprintable():
                raise ValueError(f"{ref}: the reason must be one printable line")
        return v

    @model_validator(mode="after")
    def _valid(self) -> FeatureMatrix:
        names = [s.name for s in self.sources]
        if len(set(names)) != len(names):
            raise ValueError(f"sources: duplicate source name in {names}")
        if not any(s.period == "day" for s in self.sources):
            raise ValueError("sources: at least one daily source is needed (its dates are the rows)")
        if self.lineage_table == self.target:
            raise ValueError("lineage_table: must differ from target")
        self.columns()  # raises on unknown inputs, duplicates, too many columns
        return self

    def source_columns(self) -> list[FeatureColumn]:
        out = []
        for s in self.sources:
            for name, typ, column, key in s.columns():
                params = f"{s.key}={key}" if s.key is not None else ""
                if s.period != "day":
                    params += ("; " if params else "") + f"{s.period}ly, carried to every date of the {s.period}"
                out.append(FeatureColumn(name, typ, "source", (f"{s.table}.{column}",), params,
                                         source=s.name, key=key))
        return out

    def columns(self) -> list[FeatureColumn]:
        """Every column after `date`, in table order, with its lineage. Raises ValueError
        naming the family and field on an unknown input or a duplicate name."""
        base = self.source_columns()
        by_name = {c.name: c for c in base}
        out = list(base)
        for i, fam in enumerate(self.families):
            where = f"families[{i}] ({fam.family})"

            def col(name: str, field: str, numeric: bool = True) -> FeatureColumn:
                c = by_name.get(name)
                if c is None:
                    raise ValueError(f"{where}.{field}: unknown source column {name!r} "
                                     f"(the sources give {len(by_name)} columns: {', '.join(list(by_name)[:8])}, ...)")
                if numeric and c.type not in NUMERIC:
                    raise ValueError(f"{where}.{field}: source column {name!r} is {c.type}, not numeric")
                return c

            if isinstance(fam, WindowFamily):
                for name in fam.over:
                    src = col(name, "over", numeric=fam.family != "lag")
                    unit = _unit(self, src)
                    for n in fam.windows:
                        typ = ("FLOAT64" if fam.family in ("return", "rolling_mean", "rolling_std", "zscore")
                               else src.type)
                        params = (f"n={n} {unit} back" if fam.family in ("lag", "return", "change")
                                  else f"window={n} {unit}")
                        out.append(FeatureColumn(f"{name}_{SUFFIX[fam.family]}_{n}", typ, fam.family, (name,),
                                                 params, source=src.source, window=n))
            elif isinstance(fam, PairFamily):
                for a, b in fam.pairs:
                    ca, cb = col(a, "pairs"), col(b, "pairs")
                    if fam.family == "ratio":
                        out.append(FeatureColumn(f"{a}_over_{b}", "FLOAT64", "ratio", (a, b), "a / b, NULL when b = 0"))
                    else:
                        typ = "INT64" if ca.type == cb.type == "INT64" else "FLOAT64"
                        out.append(FeatureColumn(f"{a}_minus_{b}", typ, "spread", (a, b), "a - b"))
            else:
                for part in fam.parts:
                    out.append(FeatureColumn(f"cal_{part}", "INT64", "calendar", ("date",), part))
        seen: dict[str, str] = {"date": "date"}
        for c in out:
            ids.check_column(c.name)
            if c.name.lower() in seen:
                raise ValueError(f"duplicate output column {c.name!r} (same as {seen[c.name.lower()]!r} "
                                 "ignoring case: BigQuery column names are case-insensitive)")
            seen[c.name.lower()] = c.name
        if len(out) + 1 > MAX_TABLE_COLUMNS:
            raise ValueError(f"{len(out) + 1:,} columns: over BigQuery's limit of {MAX_TABLE_COLUMNS:,} per table")
        return out

    def source(self, name: str) -> FeatureSource:
        return next(s for s in self.sources if s.name == name)

    def by_family(self) -> dict[str, int]:
        """Column count per family, in first-seen order (docs/master_features.md shows it)."""
        counts: dict[str, int] = {}
        for c in self.columns():
            counts[c.family] = counts.get(c.family, 0) + 1
        return counts


def _unit(m: FeatureMatrix, c: FeatureColumn) -> str:
    period = m.source(c.source).period
    if period == "day":
        return f"rows of {m.source(c.source).table}"
    return f"{period}s"
