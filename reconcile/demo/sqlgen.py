"""Generated SQL of the cbi-v14 spec: the master feature matrix and two monitoring views.

Three SQL files are long lists that must follow other data, so they are generated and
committed (the reconciler runs the committed files; tests/data check that they match
this generator, so neither drifts):

* `sql/transforms/master_features.sql` follows the list of source features below;
* `sql/views/table_row_counts.sql` and `sql/views/date_coverage.sql` follow the
  spec: one UNION ALL part per table the spec names (declared tables and transform
  outputs; a view over INFORMATION_SCHEMA would list every table by itself, but the
  local BigQuery cannot read such a view's definition back, see docs/monitoring.md).

    .venv/bin/python -m reconcile.demo.sqlgen          # rewrite the three files
    .venv/bin/python -m reconcile.demo.sqlgen --check  # exit 1 if one is stale

## master_features

`features.master_features` has one row per date and one column per source feature,
each named after its source (`yahoo_<symbol>_<field>`, `fred_<series>`,
`weather_<station>_<field>`, `vix_close`, `us_macro_<field>`), generated from the
list of source features below (400 hand-written columns would invite typos). How the
SQL works (docs/master_features.md has the column arithmetic):

* the date spine is every date on which a *daily* source has a row;
* long tables (one row per date and symbol/series/station) are pivoted with
  conditional aggregation, `MAX(IF(key = 'X', value, NULL))` (BigQuery's PIVOT
  works too, on both targets, but names columns `<agg>_<alias>`; conditional
  aggregation names each column exactly);
* monthly and quarterly values are carried to every date of their month/quarter
  (equality on DATE_TRUNC), never interpolated; a daily source's missing day stays
  NULL, never filled;
* the table is created once (CREATE TABLE IF NOT EXISTS, full column list) and
  every build MERGEs by date: new dates are inserted, a row is updated only when one
  of its values changed, nothing is deleted. A new day of data is one new row.

Sources with no data (CFTC commitments, Alpha Vantage: no real offline copy)
contribute no columns; add them here when their tables hold data.

This module only renders text from the spec: no BigQuery, no Prefect.
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from reconcile import identifiers as ids
from reconcile.spec.load import load_spec
from reconcile.spec.model import DesiredState, canonical_type

TARGET = "features.master_features"
ROOT = Path(__file__).resolve().parents[2]
OUTPUT = ROOT / "sql" / "transforms" / "master_features.sql"
ROW_COUNTS_VIEW = ROOT / "sql" / "views" / "table_row_counts.sql"
DATE_COVERAGE_VIEW = ROOT / "sql" / "views" / "date_coverage.sql"
SPEC = ROOT / "desired_state" / "cbi-v14.yaml"

Period = Literal["day", "month", "quarter"]
_PLAIN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class Field:
    column: str  # column in the source table
    name: str  # part of the feature name ('' for a long table's single value column)
    type: str  # BigQuery type of the feature


@dataclass(frozen=True)
class LongSource:
    """A long table: one row per date and key (symbol, series, station). Each
    (key, field) pair becomes one feature column `<prefix>_<key name>[_<field name>]`."""

    cte: str
    table: str
    prefix: str
    key_column: str
    keys: tuple[tuple[str, str], ...]  # (value in key_column, name part)
    fields: tuple[Field, ...]
    period: Period = "day"

    def columns(self) -> list[tuple[str, str, str]]:
        """(feature name, type, SQL expression) in column order."""
        out = []
        for value, part in self.keys:
            for f in self.fields:
                name = "_".join(p for p in (self.prefix, part, f.name) if p)
                expr = f"MAX(IF({self.key_column} = {_literal(value)}, {f.column}, NULL))"
                out.append((name, f.type, expr))
        return out


@dataclass(frozen=True)
class WideSource:
    """A wide table: one row per date (or period), one feature per column."""

    cte: str
    table: str
    prefix: str  # '' keeps the column name as it is (it already names its source)
    fields: tuple[Field, ...]
    period: Period = "day"

    def columns(self) -> list[tuple[str, str, str]]:
        return [("_".join(p for p in (self.prefix, f.name) if p), f.type, f"MAX({f.column})")
                for f in self.fields]


Source = LongSource | WideSource

_YAHOO_FIELDS = tuple(Field(f"yahoo_{n}", n, "INT64" if n == "volume" else "FLOAT64")
                      for n in ("open", "high", "low", "close", "adj_close", "volume"))
_WEATHER_FIELDS = (Field("precipitation", "precipitation", "FLOAT64"),
                   Field("temp_max", "temp_max", "FLOAT64"),
                   Field("temp_min", "temp_min", "FLOAT64"),
                   Field("wind", "wind", "FLOAT64"),
                   Field("weather", "weather", "STRING"))
_US_MACRO_FIELDS = tuple(Field(n, n, "FLOAT64") for n in (
    "realgdp", "realcons", "realinv", "realgovt", "realdpi", "cpi", "m1", "tbilrate", "unemp",
    "pop", "infl", "realint"))

# The cbi-v14 sources, in column order. Keys are the values the staging files hold
# (reconcile/demo/data.py; staging/PROVENANCE.json). Production adds its symbols,
# series and stations here and regenerates.
CBI_V14_SOURCES: tuple[Source, ...] = (
    LongSource("yahoo", "market_data.yahoo_historical_prefixed", "yahoo", "symbol",
               (("^GSPC", "gspc"), ("^IXIC", "ixic")), _YAHOO_FIELDS),
    LongSource("fred_daily", "raw_intelligence.fred_macro_expanded", "fred", "series_id",
               (("DCOILWTICO", "dcoilwtico"),), (Field("value", "", "FLOAT64"),)),
    LongSource("fred_monthly", "raw_intelligence.fred_macro_expanded", "fred", "series_id",
               (("CPILFESL", "cpilfesl"), ("AAA", "aaa"), ("BAA", "baa")),
               (Field("value", "", "FLOAT64"),), period="month"),
    LongSource("weather", "raw_intelligence.weather_granular", "weather", "station",
               (("SEATTLE_WA", "seattle_wa"),), _WEATHER_FIELDS),
    WideSource("vix", "market_data.vix_daily", "", (Field("vix_close", "vix_close", "FLOAT64"),)),
    WideSource("us_macro", "raw_intelligence.us_macro_quarterly", "us_macro", _US_MACRO_FIELDS,
               period="quarter"),
)

# Declared sources that hold no data yet: no columns, listed in the SQL header.
EMPTY_SOURCES = (
    ("raw_intelligence.cftc_commitments", "CFTC Commitments of Traders: no real offline copy"),
    ("raw_intelligence.alpha_vantage_features", "Alpha Vantage indicators: no real offline copy"),
)


def _literal(value: str) -> str:
    if "'" in value or "\\" in value:
        raise ValueError(f"key value {value!r} needs escaping: not supported")
    return f"'{value}'"


def _table(ref: str) -> str:
    ds, t = ids.split_table_ref(ref)
    return f"`{ds}.{t}`"


def feature_columns(sources: tuple[Source, ...] = CBI_V14_SOURCES) -> list[tuple[str, str]]:
    """(name, type) of every feature column, in table order (after `date`)."""
    out = [(n, t) for s in sources for n, t, _ in s.columns()]
    names = [n for n, _ in out]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValueError(f"duplicate feature names: {', '.join(dupes)}")
    for n in names:
        ids.check_column(n)
    return out


def _period_key(period: Period, column: str = "date") -> str:
    return column if period == "day" else f"DATE_TRUNC({column}, {period.upper()})"


def render(sources: tuple[Source, ...] = CBI_V14_SOURCES, target: str = TARGET) -> str:
    cols = feature_columns(sources)
    counts = ", ".join(f"{s.cte} {len(s.columns())}" for s in sources)
    lines: list[str] = [
        "-- GENERATED by `python -m reconcile.demo.sqlgen` from its CBI_V14_SOURCES: do not edit;",
        "-- change the generator and rerun it (tests/data check the two match).",
        "--",
        f"-- {target}: one row per date, one column per source feature.",
        f"-- {len(cols)} features ({counts}) + date:",
        "-- docs/master_features.md explains the count.",
        "-- Incremental: the table is created once, then MERGEd by date: new dates are",
        "-- inserted, a row is updated only when a value changed, nothing is deleted.",
        "-- No columns from sources without data:",
        *(f"--   {t} ({why})" for t, why in EMPTY_SOURCES),
        "",
        f"CREATE TABLE IF NOT EXISTS {_table(target)} (",
        "  date DATE NOT NULL,",
    ]
    lines += [f"  {n} {t}," for n, t in cols]
    lines[-1] = lines[-1].rstrip(",")
    lines += [
        ")",
        # Monthly partitions: daily ones would exceed BigQuery's limits (10,000 per table,
        # 4,000 per job) over 1986-2025.
        "PARTITION BY DATE_TRUNC(date, MONTH)",
        "CLUSTER BY date",
        'OPTIONS (description = "Master feature matrix: one row per date, source-prefixed feature '
        'columns (generated by reconcile.demo.sqlgen)");',
        "",
        f"MERGE {_table(target)} AS T",
        "USING (",
        "  WITH spine AS (",
    ]
    daily = [s for s in sources if s.period == "day"]
    spine = []
    for s in daily:
        where = ""
        if isinstance(s, LongSource):
            where = f" WHERE {s.key_column} IN ({', '.join(_literal(v) for v, _ in s.keys)})"
        spine.append(f"    SELECT date FROM {_table(s.table)}{where}")
    lines.append("\n    UNION DISTINCT\n".join(spine))
    lines.append("  ),")
    for i, s in enumerate(sources):
        key = _period_key(s.period)
        alias = "date" if s.period == "day" else "period_start"
        lines.append(f"  {s.cte} AS (")
        lines.append("    SELECT date," if s.period == "day" else f"    SELECT {key} AS {alias},")
        body = [f"      {expr} AS {n}" for n, _, expr in s.columns()]
        lines.append(",\n".join(body))
        where = ""
        if isinstance(s, LongSource):
            where = f"\n    WHERE {s.key_column} IN ({', '.join(_literal(v) for v, _ in s.keys)})"
        lines.append(f"    FROM {_table(s.table)}{where}")
        lines.append(f"    GROUP BY {key}")
        lines.append("  )" + ("," if i < len(sources) - 1 else ""))
    lines.append("  SELECT")
    select = ["    spine.date"]
    for s in sources:
        select += [f"    {s.cte}.{n}" for n, _, _ in s.columns()]
    lines.append(",\n".join(select))
    lines.append("  FROM spine")
    for s in sources:
        if s.period == "day":
            lines.append(f"  LEFT JOIN {s.cte} ON {s.cte}.date = spine.date")
        else:
            lines.append(f"  LEFT JOIN {s.cte} ON {s.cte}.period_start = "
                         f"{_period_key(s.period, 'spine.date')}")
    names = [n for n, _ in cols]
    lines += [
        ") AS S",
        "ON T.date = S.date",
        "WHEN MATCHED AND (",
        "\n".join(f"    {'OR ' if i else '   '}T.{n} IS DISTINCT FROM S.{n}" for i, n in enumerate(names)),
        ") THEN UPDATE SET",
        ",\n".join(f"  {n} = S.{n}" for n in names),
        "WHEN NOT MATCHED THEN INSERT (",
        "  date,",
        ",\n".join(f"  {n}" for n in names),
        ") VALUES (",
        "  S.date,",
        ",\n".join(f"  S.{n}" for n in names),
        ");",
    ]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- monitoring views


def named_tables(desired: DesiredState) -> list[str]:
    """The tables a spec names: declared tables and transform outputs (not views,
    not tables matched only by a migration's or an expectation's pattern)."""
    refs = set(desired.tables)
    for tr in desired.transforms.values():
        refs.update(tr.outputs)
    return sorted(refs - set(desired.views))


def date_columns(desired: DesiredState, ref: str) -> list[str]:
    """A table's DATE columns: declared ones, or `date` for a transform output (every
    cbi-v14 output is keyed by `date`; declare the table to say otherwise)."""
    cols = desired.columns_of(ref)
    if cols is None:
        return ["date"]
    return [n for n, t, _ in cols if canonical_type(t) == "DATE"]


def _from(ref: str) -> str:
    ds, t = ids.split_table_ref(ref)
    return f"{ds}.{t}" if _PLAIN.match(t) else f"`{ds}.{t}`"


def render_row_counts(desired: DesiredState) -> str:
    parts = [f"SELECT '{ref}' AS table_ref, COUNT(*) AS row_count FROM {_from(ref)}"
             for ref in named_tables(desired)]
    return ("/* monitoring.table_row_counts: exact row count (COUNT(*)) of every table the spec\n"
            "   names. GENERATED by `python -m reconcile.demo.sqlgen` from the spec: do not edit. */\n"
            + "\nUNION ALL\n".join(parts) + "\n")


def render_date_coverage(desired: DesiredState) -> str:
    parts = []
    for ref in named_tables(desired):
        cols = date_columns(desired, ref)
        if not cols:
            continue
        first, last = cols[0], cols[-1]
        if "date" in cols:
            first = last = "date"
        label = first if first == last else f"{first}..{last}"
        parts.append(f"SELECT '{ref}' AS table_ref, '{label}' AS date_column, MIN({first}) AS min_date, "
                     f"MAX({last}) AS max_date, COUNT(DISTINCT {first}) AS distinct_dates, "
                     f"COUNT(*) AS row_count FROM {_from(ref)}")
    return ("/* monitoring.date_coverage: first and last date of every table the spec names that has\n"
            "   a DATE column (`date` when it has one; an interval table such as the regime\n"
            "   calendar covers its first DATE column minimum to its last DATE column maximum).\n"
            "   GENERATED by `python -m reconcile.demo.sqlgen` from the spec: do not edit. */\n"
            + "\nUNION ALL\n".join(parts) + "\n")


def generated_files(desired: DesiredState | None = None) -> dict[Path, str]:
    """Every generated file and its text."""
    if desired is None:
        desired = load_spec(SPEC)
    return {OUTPUT: render(), ROW_COUNTS_VIEW: render_row_counts(desired),
            DATE_COVERAGE_VIEW: render_date_coverage(desired)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m reconcile.demo.sqlgen", description=__doc__.splitlines()[0])
    p.add_argument("--check", action="store_true", help="exit 1 if a committed file is stale")
    p.add_argument("--spec", type=Path, default=SPEC)
    args = p.parse_args(argv)
    files = generated_files(load_spec(args.spec))
    if args.check:
        stale = [path for path, text in files.items()
                 if not path.exists() or path.read_text(encoding="utf-8") != text]
        for path in stale:
            print(f"{path} is stale: run python -m reconcile.demo.sqlgen", file=sys.stderr)
        return 1 if stale else 0
    for path, text in files.items():
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
