"""The SQL of a feature matrix, rendered from its `features:` block (reconcile.spec.features).

One script, four statements, BigQuery only (no data passes through Python):

1. `CREATE TABLE IF NOT EXISTS` the matrix: `date` and every column, monthly partitions;
2. `CREATE TABLE IF NOT EXISTS` the lineage table: one row per column of the matrix;
3. `MERGE` the matrix by date. The source: a date spine (every date a daily source has a
   row), each source pivoted to one row per date / month / quarter (conditional
   aggregation, `MAX(IF(key = 'X', field, NULL))`), its window features computed over
   its own rows (`LAG ... OVER o`, `AVG` / `STDDEV_SAMP` / `MIN` / `MAX ... OVER w<n>`, with
   `WINDOW o AS (ORDER BY date), w<n> AS (ORDER BY date ROWS BETWEEN n-1 PRECEDING AND
   CURRENT ROW)`; NULL until the window holds n non-NULL values), then joined to the spine with ratios (`SAFE_DIVIDE`), spreads and calendar
   parts. New dates are inserted, a row is updated only when a value changed, nothing
   is deleted. Windows look back only: a new day never changes an older row.
4. `MERGE` the lineage rows (column, ordinal, family, inputs, parameters) by column name.

Every function used works on BigQuery and on the local BigQuery (sqlglot -> DuckDB):
SAFE_DIVIDE, LAG, windowed AVG/STDDEV_SAMP/MIN/MAX/COUNT, EXTRACT of YEAR, QUARTER,
MONTH, DAY and DAYOFYEAR, DATE_DIFF; the day of the week is computed from DATE_DIFF
because DuckDB numbers EXTRACT(DAYOFWEEK) from 0 where BigQuery does from 1.

Pure and deterministic: the same block gives the same text. The spec loader compares
it with the committed file, so the SQL that runs is always the declared features'.
"""

from __future__ import annotations

from reconcile import identifiers as ids
from reconcile.spec.features import FeatureColumn, FeatureMatrix, FeatureSource

GENERATOR = "python -m reconcile.demo.sqlgen"
# Conditions per parenthesised group in the MERGE's change test: a flat chain of 400
# ORs nests 400 deep in a parser's tree (sqlglot recurses over it); groups keep it shallow.
_OR_GROUP = 20


def _table(ref: str) -> str:
    ds, t = ids.split_table_ref(ref)
    return f"`{ds}.{t}`"


def _lit(text: str) -> str:
    if "'" in text or "\\" in text or "\n" in text:
        raise ValueError(f"{text!r} needs escaping: not supported in generated SQL")
    return f"'{text}'"


def _order_key(s: FeatureSource) -> str:
    return "date" if s.period == "day" else "period_start"


def _period_key(period: str, column: str = "date") -> str:
    return column if period == "day" else f"DATE_TRUNC({column}, {period.upper()})"


def _window_expr(c: FeatureColumn) -> str:
    """The column's expression over the CTE's named windows: `o` (the source's rows in
    order) and `w<n>` (the last n of them). Named once per CTE, not per column: the text
    stays small enough for the local BigQuery to translate quickly."""
    x, n = c.inputs[0], c.window
    back = f"LAG({x}, {n}) OVER o"
    if c.family == "lag":
        return back
    if c.family == "return":
        return f"SAFE_DIVIDE({x}, {back}) - 1"
    if c.family == "change":
        return f"{x} - {back}"
    w = f"OVER w{n}"
    agg = {"rolling_mean": f"AVG({x}) {w}", "rolling_std": f"STDDEV_SAMP({x}) {w}",
           "rolling_min": f"MIN({x}) {w}", "rolling_max": f"MAX({x}) {w}",
           "zscore": f"SAFE_DIVIDE({x} - AVG({x}) {w}, STDDEV_SAMP({x}) {w})"}[c.family]
    # A partial window (the first n-1 rows, or one with a NULL) gives NULL, never a value
    # over fewer rows than its name says.
    return f"IF(COUNT({x}) {w} = {n}, {agg}, NULL)"


def _windows(cols: list[FeatureColumn], order: str) -> str:
    frames = sorted({c.window for c in cols if c.family not in ("lag", "return", "change")})
    named = [f"o AS (ORDER BY {order})"] + [
        f"w{n} AS (ORDER BY {order} ROWS BETWEEN {n - 1} PRECEDING AND CURRENT ROW)" for n in frames]
    return "    WINDOW " + ",\n      ".join(named)


_CALENDAR = {
    "year": "EXTRACT(YEAR FROM spine.date)",
    "quarter": "EXTRACT(QUARTER FROM spine.date)",
    "month": "EXTRACT(MONTH FROM spine.date)",
    "day_of_month": "EXTRACT(DAY FROM spine.date)",
    "day_of_year": "EXTRACT(DAYOFYEAR FROM spine.date)",
    # 1 = Sunday as BigQuery's EXTRACT(DAYOFWEEK): 0001-01-07 was a Sunday, and + 7 keeps
    # the first six days of year 1 (BigQuery's earliest DATE) off MOD's negative results.
    "day_of_week": "MOD(DATE_DIFF(spine.date, DATE '0001-01-07', DAY) + 7, 7) + 1",
}


def _where(s: FeatureSource, indent: str) -> str:
    if s.key is None:
        return ""
    return f"\n{indent}WHERE {s.key} IN ({', '.join(_lit(v) for v in s.keys)})"


def _changed(names: list[str]) -> list[str]:
    groups = [names[i:i + _OR_GROUP] for i in range(0, len(names), _OR_GROUP)]
    out = []
    for g, group in enumerate(groups):
        body = " OR ".join(f"T.{n} IS DISTINCT FROM S.{n}" for n in group)
        out.append(f"    {'OR ' if g else '   '}({body})")
    return out


def header(m: FeatureMatrix, cols: list[FeatureColumn]) -> list[str]:
    counts = ", ".join(f"{fam} {n}" for fam, n in m.by_family().items())
    return [
        f"-- GENERATED by `{GENERATOR}` from the spec's transforms.<name>.features: do not",
        "-- edit; change the spec and rerun it (the spec loader refuses a stale file).",
        "--",
        f"-- {m.target}: one row per date; {len(cols) + 1} columns: date + {counts}.",
        f"-- {m.lineage_table}: one row per column of it, with its lineage.",
        "-- Window features run over their source's own rows and are NULL until the window is",
        "-- full (the first n rows of a source, and windows that hold a NULL).",
        "-- Incremental: both tables are created once, then MERGEd: new dates are inserted, a",
        "-- row is updated only when a value changed, nothing is deleted.",
        *(["-- No columns from sources without data:"] if m.pending else []),
        *(f"--   {t} ({why})" for t, why in m.pending.items()),
        "",
    ]


def _create(m: FeatureMatrix, cols: list[FeatureColumn]) -> list[str]:
    lines = [f"CREATE TABLE IF NOT EXISTS {_table(m.target)} (", "  date DATE NOT NULL,"]
    lines += [f"  {c.name} {c.type}," for c in cols]
    lines[-1] = lines[-1].rstrip(",")
    return lines + [
        ")",
        # Monthly partitions: daily ones would exceed BigQuery's limits (10,000 per table,
        # 4,000 per job) over 1986-2025.
        "PARTITION BY DATE_TRUNC(date, MONTH)",
        "CLUSTER BY date",
        f'OPTIONS (description = "Feature matrix: one row per date; each column\'s lineage in {m.lineage_table}");',
        "",
        f"CREATE TABLE IF NOT EXISTS {_table(m.lineage_table)} (",
        "  column_name STRING NOT NULL,",
        "  ordinal INT64,",
        "  family STRING,",
        "  inputs STRING,",
        "  parameters STRING",
        ")",
        f'OPTIONS (description = "Lineage of every column of {m.target}: family, source columns, parameters");',
        "",
    ]


def _merge_matrix(m: FeatureMatrix, cols: list[FeatureColumn]) -> list[str]:
    lines = [f"MERGE {_table(m.target)} AS T", "USING (", "  WITH spine AS ("]
    daily = [s for s in m.sources if s.period == "day"]
    lines.append("\n    UNION DISTINCT\n".join(f"    SELECT date FROM {_table(s.table)}{_where(s, '').replace(chr(10), ' ')}"
                                              for s in daily))
    lines.append("  ),")
    windows: dict[str, list[FeatureColumn]] = {}
    for c in cols:
        if c.window:
            windows.setdefault(c.source, []).append(c)
    ctes: list[list[str]] = []
    for s in m.sources:
        key = _period_key(s.period)
        body = [f"    SELECT {'date' if s.period == 'day' else key + ' AS period_start'},"]
        body.append(",\n".join(
            f"      {'MAX(IF(' + s.key + ' = ' + _lit(value) + ', ' + column + ', NULL))' if s.key else 'MAX(' + column + ')'}"
            f" AS {name}" for name, _, column, value in s.columns()))
        body.append(f"    FROM {_table(s.table)}{_where(s, '    ')}")
        body.append(f"    GROUP BY {key}")
        ctes.append([f"  {s.name} AS (", *body, "  )"])
        if s.name in windows:
            ctes.append([f"  {s.name}_w AS (", f"    SELECT {s.name}.*,",
                         ",\n".join(f"      {_window_expr(c)} AS {c.name}" for c in windows[s.name]),
                         f"    FROM {s.name}", _windows(windows[s.name], _order_key(s)), "  )"])
    for i, cte in enumerate(ctes):
        lines += cte
        if i < len(ctes) - 1:
            lines[-1] += ","
    alias = {s.name: (f"{s.name}_w" if s.name in windows else s.name) for s in m.sources}
    owner = {c.name: c.source for c in cols if c.source}

    def ref(name: str) -> str:
        return f"{alias[owner[name]]}.{name}"

    # Every source and window column by `* EXCEPT` (names are unique across sources; the
    # MERGE names each column, so the order does not matter): the text stays small.
    select = ["    spine.date"] + [f"    {alias[s.name]}.* EXCEPT ({_order_key(s)})" for s in m.sources]
    for c in cols:
        if c.family == "ratio":
            select.append(f"    SAFE_DIVIDE({ref(c.inputs[0])}, {ref(c.inputs[1])}) AS {c.name}")
        elif c.family == "spread":
            select.append(f"    {ref(c.inputs[0])} - {ref(c.inputs[1])} AS {c.name}")
        elif c.family == "calendar":
            select.append(f"    {_CALENDAR[c.parameters]} AS {c.name}")
    lines += ["  SELECT", ",\n".join(select), "  FROM spine"]
    for s in m.sources:
        a = alias[s.name]
        if s.period == "day":
            lines.append(f"  LEFT JOIN {a} ON {a}.date = spine.date")
        else:
            lines.append(f"  LEFT JOIN {a} ON {a}.period_start = {_period_key(s.period, 'spine.date')}")
    names = [c.name for c in cols]
    return lines + [
        ") AS S",
        "ON T.date = S.date",
        "WHEN MATCHED AND (",
        *_changed(names),
        ") THEN UPDATE SET",
        ",\n".join(f"  {n} = S.{n}" for n in names),
        "WHEN NOT MATCHED THEN INSERT (",
        "  date,",
        ",\n".join(f"  {n}" for n in names),
        ") VALUES (",
        "  S.date,",
        ",\n".join(f"  S.{n}" for n in names),
        ");",
        "",
    ]


def lineage_rows(m: FeatureMatrix) -> list[tuple[str, int, str, str, str]]:
    """(column_name, ordinal, family, inputs, parameters) of every column, `date` first."""
    daily = ", ".join(s.table for s in m.sources if s.period == "day")
    rows = [("date", 1, "key", daily, "every date with a row in a daily source")]
    for i, c in enumerate(m.columns(), start=2):
        rows.append((c.name, i, c.family, ", ".join(c.inputs), c.parameters))
    return rows


def _merge_lineage(m: FeatureMatrix) -> list[str]:
    rows = lineage_rows(m)
    fields = ["ordinal", "family", "inputs", "parameters"]
    # Names on the first SELECT only: a UNION ALL takes its column names from it.
    select = [f"  SELECT {_lit(n)} AS column_name, {o} AS ordinal, {_lit(f)} AS family, {_lit(i)} AS inputs, "
              f"{_lit(p)} AS parameters" if k == 0 else f"  SELECT {_lit(n)}, {o}, {_lit(f)}, {_lit(i)}, {_lit(p)}"
              for k, (n, o, f, i, p) in enumerate(rows)]
    return [
        f"MERGE {_table(m.lineage_table)} AS T",
        "USING (",
        "\n  UNION ALL\n".join(select),
        ") AS S",
        "ON T.column_name = S.column_name",
        "WHEN MATCHED AND (",
        *_changed(fields),
        ") THEN UPDATE SET",
        ",\n".join(f"  {n} = S.{n}" for n in fields),
        "WHEN NOT MATCHED THEN INSERT (column_name, " + ", ".join(fields) + ")",
        "  VALUES (S.column_name, " + ", ".join(f"S.{n}" for n in fields) + ");",
    ]


def render(m: FeatureMatrix) -> str:
    """The whole script; the same matrix always gives the same text."""
    cols = m.columns()
    lines = header(m, cols) + _create(m, cols) + _merge_matrix(m, cols) + _merge_lineage(m)
    return "\n".join(lines) + "\n"
