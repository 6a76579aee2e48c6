"""Engineered features as data: the `features:` block of a transform is validated at load
(one error naming the file and the field), and the SQL generated from it is pure,
deterministic, parses, writes only the declared outputs and keeps a lineage row per column.
No BigQuery here (tests/data/test_demo_data_work.py builds the matrix on the local BigQuery)."""

from __future__ import annotations

import copy
import re
from pathlib import Path

import pytest
import sqlglot
import yaml
from sqlglot import exp

from reconcile.spec import features_sql, sqlparse
from reconcile.spec.features import MAX_TABLE_COLUMNS, FeatureMatrix
from reconcile.spec.load import load_spec
from reconcile.spec.model import SpecError

ROOT = Path(__file__).resolve().parents[2]

SMALL = {
    "target": "features.matrix",
    "lineage_table": "features.matrix_lineage",
    "sources": [
        {"name": "px", "table": "raw.prices", "prefix": "px", "key": "symbol", "keys": {"A": "a", "B": "b"},
         "fields": [{"column": "close", "name": "close"}, {"column": "volume", "name": "volume", "type": "INT64"},
                    {"column": "note", "name": "note", "type": "STRING"}]},
        {"name": "cpi", "table": "raw.cpi", "fields": [{"column": "cpi"}], "period": "month"},
    ],
    "families": [
        {"family": "return", "over": ["px_a_close"], "windows": [1, 5]},
        {"family": "rolling_std", "over": ["px_a_close", "cpi"], "windows": [3]},
        {"family": "lag", "over": ["px_a_note"], "windows": [1]},
        {"family": "ratio", "pairs": [["px_a_close", "px_b_close"]]},
        {"family": "spread", "pairs": [["px_a_volume", "px_b_volume"]]},
        {"family": "calendar", "parts": ["day_of_week", "year"]},
    ],
}


def spec_text(features: dict) -> str:
    return yaml.safe_dump({
        "version": 1, "project": "demo-project", "default_location": "us-central1",
        "datasets": {"raw": {}, "features": {}, "ops": {}},
        "transforms": {"matrix": {"sql": "sql/matrix.sql", "features": features}},
    }, sort_keys=False)


def write(tmp_path: Path, features: dict, sql: str | None = None) -> Path:
    (tmp_path / "desired_state").mkdir(exist_ok=True)
    (tmp_path / "sql").mkdir(exist_ok=True)
    spec = tmp_path / "desired_state" / "spec.yaml"
    spec.write_text(spec_text(features), encoding="utf-8")
    if sql is not None:
        (tmp_path / "sql" / "matrix.sql").write_text(sql, encoding="utf-8")
    return spec


def bad(**change) -> dict:
    f = copy.deepcopy(SMALL)
    for path, value in change.items():
        *parents, last = path.split("__")
        node = f
        for p in parents:
            node = node[int(p)] if p.isdigit() else node[p]
        node[int(last) if last.isdigit() else last] = value
    return f


# ------------------------------------------------------------------ validation at load


@pytest.mark.parametrize("features, field, message", [
    (bad(families__0__over=["px_c_close"]), "transforms.matrix.features",
     "families[0] (return).over: unknown source column 'px_c_close'"),
    (bad(families__3__pairs=[["px_a_close", "nope"]]), "transforms.matrix.features",
     "families[3] (ratio).pairs: unknown source column 'nope'"),
    (bad(families__0__over=["px_a_note"]), "transforms.matrix.features",
     "source column 'px_a_note' is STRING, not numeric"),
    (bad(families__0__windows=[0]), "transforms.matrix.features.families[0].return.windows",
     "window 0: must be between 1 and 10,000 rows"),
    (bad(families__0__windows=[5, 5]), "transforms.matrix.features.families[0].return.windows",
     "duplicate window"),
    (bad(families__1__windows=[1]), "transforms.matrix.features.families[1].rolling_std",
     "a standard deviation needs a window of at least 2 rows"),
    (bad(families__0__family="momentum"), "transforms.matrix.features.families[0]",
     "'momentum'"),
    (bad(families__5__parts=["week"]), "transforms.matrix.features.families[5].calendar.parts[0]", "Input should be 'year'"),
    (bad(sources__1__fields=[{"column": "CPI"}, {"column": "x", "name": "cpi"}]), "transforms.matrix.features",
     "duplicate output column 'cpi' (same as 'CPI' ignoring case"),
    (bad(families__4__family="ratio", families__4__pairs=[["px_a_close", "px_b_close"]]),
     "transforms.matrix.features", "duplicate output column 'px_a_close_over_px_b_close'"),
    (bad(families__0__windows=list(range(1, MAX_TABLE_COLUMNS + 1))), "transforms.matrix.features",
     "over BigQuery's limit of 10,000 per table"),
    (bad(sources__0__keys={"A'; DROP": "a"}), "transforms.matrix.features.sources[0].keys",
     "printable, without quotes"),
    (bad(sources__0__key=None), "transforms.matrix.features.sources[0]", "a long table gives both"),
    (bad(sources__0__table="nodataset"), "transforms.matrix.features.sources[0].table", ""),
    (bad(families__0__extra=1), "transforms.matrix.features.families[0].return.extra", "unknown key"),
    (bad(sources__0__period="month"), "transforms.matrix.features", "at least one daily source"),
    (bad(pending={"raw.cftc": "none\nDROP TABLE raw.cpi;"}), "transforms.matrix.features.pending",
     "one printable line"),
])
def test_a_bad_family_is_refused_naming_file_and_field(tmp_path, features, field, message) -> None:
    spec = write(tmp_path, features)
    with pytest.raises(SpecError) as e:
        load_spec(spec)
    assert e.value.file == "desired_state/spec.yaml"
    assert e.value.field == field, str(e.value)
    assert message in e.value.message, str(e.value)


def test_a_stale_or_edited_generated_file_is_refused(tmp_path) -> None:
    good = features_sql.render(FeatureMatrix.model_validate(SMALL))
    spec = write(tmp_path, SMALL, good)
    d = load_spec(spec)
    assert d.transform_sql["matrix"] == good
    assert set(d.transforms["matrix"].outputs) == {"features.matrix", "features.matrix_lineage"}
    assert set(d.transforms["matrix"].inputs) == {"raw.prices", "raw.cpi"}
    (tmp_path / "sql" / "matrix.sql").write_text(good.replace("LAG(px_a_close, 5)", "LAG(px_a_close, 6)"))
    with pytest.raises(SpecError) as e:
        load_spec(spec)
    assert e.value.file == "sql/matrix.sql" and "stale" in e.value.message
    assert "python -m reconcile.demo.sqlgen" in e.value.message
    # The generator's own load takes the generated text instead.
    assert load_spec(spec, regenerate=True).transform_sql["matrix"] == good


# ------------------------------------------------------------------ the generator


@pytest.fixture(scope="module")
def cbi() -> FeatureMatrix:
    return load_spec(ROOT / "desired_state" / "cbi-v14.yaml").transforms["master_features"].features


def test_generator_is_pure_and_deterministic(cbi) -> None:
    m = FeatureMatrix.model_validate(copy.deepcopy(SMALL))
    assert features_sql.render(m) == features_sql.render(FeatureMatrix.model_validate(copy.deepcopy(SMALL)))
    assert features_sql.render(cbi) == (ROOT / "sql" / "transforms" / "master_features.sql").read_text()


def test_generated_sql_parses_and_writes_only_its_outputs(cbi) -> None:
    text = features_sql.render(cbi)
    script = sqlparse.analyze(text, "cbi-v14")
    assert [k for _, k in [(s.line, s.kind) for s in script.statements]] == [
        "CREATE TABLE", "CREATE TABLE", "MERGE", "MERGE"]
    assert set(script.writes) == {cbi.target, cbi.lineage_table}
    assert set(script.inputs) == {s.table for s in cbi.sources}
    assert not script.destructive and not script.outside
    # Every statement parses with sqlglot's BigQuery dialect and transpiles to DuckDB, the
    # local BigQuery's engine.
    for statement in sqlglot.parse(text, read="bigquery"):
        assert statement.sql(dialect="duckdb")


def test_generated_columns_and_lineage_match_the_spec(cbi) -> None:
    text = features_sql.render(cbi)
    create = sqlglot.parse(text, read="bigquery")[0]
    cols = [(c.name, c.args["kind"].sql(dialect="bigquery")) for c in create.find_all(exp.ColumnDef)]
    spec_cols = cbi.columns()
    assert cols == [("date", "DATE")] + [(c.name, c.type) for c in spec_cols]
    assert len(cols) >= 400
    rows = features_sql.lineage_rows(cbi)
    assert [r[0] for r in rows] == [n for n, _ in cols]
    assert [r[1] for r in rows] == list(range(1, len(cols) + 1))
    for (name, _, family, inputs, params), c in zip(rows[1:], spec_cols):
        assert (name, family, inputs, params) == (c.name, c.family, ", ".join(c.inputs), c.parameters)
        assert c.lineage == (f"{family}({inputs}; {params})" if params else f"{family}({inputs})")
        assert len(c.lineage) <= 1024  # fits a BigQuery column description too
    # Every engineered column names only source columns of the matrix.
    source = {c.name for c in spec_cols if c.family == "source"}
    for c in spec_cols:
        if c.family not in ("source", "calendar"):
            assert set(c.inputs) <= source, c
    # The header's counts by family are the spec's.
    counts = ", ".join(f"{f} {n}" for f, n in cbi.by_family().items())
    assert f"{len(cols)} columns: date + {counts}." in text


def test_window_features_are_the_documented_window_functions() -> None:
    text = features_sql.render(FeatureMatrix.model_validate(SMALL))
    assert "SAFE_DIVIDE(px_a_close, LAG(px_a_close, 5) OVER o) - 1 AS px_a_close_ret_5" in text
    assert "IF(COUNT(cpi) OVER w3 = 3, STDDEV_SAMP(cpi) OVER w3, NULL) AS cpi_std_3" in text
    assert "WINDOW o AS (ORDER BY period_start),\n      w3 AS (ORDER BY period_start ROWS BETWEEN 2 PRECEDING" in text
    assert "WINDOW o AS (ORDER BY date),\n      w3 AS (ORDER BY date ROWS BETWEEN 2 PRECEDING" in text
    assert "SAFE_DIVIDE(px_w.px_a_close, px_w.px_b_close) AS px_a_close_over_px_b_close" in text
    assert "px.px_a_volume - px.px_b_volume AS px_a_volume_minus_px_b_volume" not in text
    assert "px_w.px_a_volume - px_w.px_b_volume AS px_a_volume_minus_px_b_volume" in text
    assert "MOD(DATE_DIFF(spine.date, DATE '0001-01-07', DAY) + 7, 7) + 1 AS cal_day_of_week" in text
    # No deep OR chain: the change test is grouped (a 400-deep chain nests past a
    # parser's recursion limit).
    merge = text.split("WHEN MATCHED AND (", 1)[1].split(") THEN UPDATE", 1)[0]
    assert max(len(re.findall(r" OR T\.", line)) for line in merge.splitlines()) < features_sql._OR_GROUP


def test_calendar_parts_number_as_bigquery_does_on_the_local_engine() -> None:
    """Each calendar expression, translated by sqlglot to DuckDB (the local BigQuery's
    engine), gives BigQuery's documented numbering (EXTRACT: DAYOFWEEK 1 = Sunday .. 7,
    DAYOFYEAR from 1, QUARTER 1-4), from year 1 (BigQuery's first DATE) to 2100."""
    import datetime as dt

    import duckdb

    days = [dt.date(1, 1, 1) + dt.timedelta(days=i) for i in range(14)] + \
        [dt.date(1969, 12, 20) + dt.timedelta(days=i) for i in range(30)] + \
        [dt.date(2024, 2, 25) + dt.timedelta(days=i) for i in range(10)] + [dt.date(2100, 12, 31)]
    want = {
        "year": lambda d: d.year, "quarter": lambda d: (d.month - 1) // 3 + 1, "month": lambda d: d.month,
        "day_of_month": lambda d: d.day, "day_of_week": lambda d: d.isoweekday() % 7 + 1,
        "day_of_year": lambda d: d.timetuple().tm_yday,
    }
    con = duckdb.connect()
    con.execute("CREATE TABLE spine (date DATE)")
    con.executemany("INSERT INTO spine VALUES (?)", [(d,) for d in days])
    for part, expr in features_sql._CALENDAR.items():
        sql = sqlglot.transpile(f"SELECT spine.date, {expr} FROM spine", read="bigquery", write="duckdb")[0]
        got = {d: v for d, v in con.execute(sql).fetchall()}
        assert got == {d: want[part](d) for d in days}, part
