"""The SQL layer (reconcile.spec.sqlparse): statements, tables read and written,
destructive statements, references outside the project, bad SQL, DDL columns. No BigQuery."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconcile.spec import sqlparse as sp

ROOT = Path(__file__).resolve().parents[2]


def one(text: str, project: str = "cbi-v14") -> sp.Statement:
    script = sp.analyze(text, project)
    assert len(script.statements) == 1, script.statements
    return script.statements[0]


# ---------------------------------------------------------------- reads and writes


def test_reads_exclude_ctes_and_the_written_table():
    s = one("""WITH latest AS (SELECT symbol, MAX(date) AS d FROM market_data.prices GROUP BY symbol)
               MERGE market_data.latest T USING (SELECT * FROM latest JOIN `dim.symbols` USING (symbol)) S
               ON T.symbol = S.symbol WHEN NOT MATCHED THEN INSERT (symbol, d) VALUES (S.symbol, S.d)""")
    assert s.kind == "MERGE"
    assert s.writes == ("market_data.latest",)
    assert set(s.reads) == {"market_data.prices", "dim.symbols"}


def test_update_from_reads_its_sources_and_writes_its_target():
    s = one("UPDATE `training.t1m` t SET regime = c.regime FROM regimes.calendar c "
            "WHERE t.date BETWEEN c.start_date AND c.end_date")
    assert (s.kind, s.writes, s.reads) == ("UPDATE", ("training.t1m",), ("regimes.calendar",))


def test_a_script_separates_inputs_from_what_it_writes_and_creates():
    script = sp.analyze("""DECLARE run_date DATE DEFAULT CURRENT_DATE();
        CREATE TABLE IF NOT EXISTS features.agg (date DATE NOT NULL, n INT64);
        CREATE TEMP TABLE staged AS SELECT date, COUNT(*) AS n FROM raw.events GROUP BY date;
        MERGE features.agg T USING staged S ON T.date = S.date
        WHEN NOT MATCHED THEN INSERT (date, n) VALUES (S.date, S.n);
        DROP TABLE staged;""", "cbi-v14")
    assert [s.kind for s in script.statements] == [
        "DECLARE", "CREATE TABLE", "CREATE TEMP TABLE", "MERGE", "DROP TABLE"]
    assert script.inputs == ("raw.events",)
    assert script.writes == ("features.agg",)
    assert script.creates == ("features.agg",)
    assert script.destructive == ()  # dropping a script's own TEMP table destroys nothing


def test_statement_lines_and_text_as_written():
    script = sp.analyze("-- header\nSELECT 1;\n\n/* two */\nSELECT *\nFROM ds.t;\n")
    assert [(s.line, s.text) for s in script.statements] == [(2, "SELECT 1"), (5, "SELECT *\nFROM ds.t")]


def test_project_qualified_names():
    own = one("SELECT * FROM `cbi-v14.market_data.prices`")
    assert own.reads == ("market_data.prices",)
    script = sp.analyze("SELECT * FROM `other-proj.ds.t` JOIN `other-proj`.ds.u USING (a)", "cbi-v14")
    assert script.reads == ()
    assert script.outside == ((1, "other-proj.ds.t"), (1, "other-proj.ds.u"))
    with pytest.raises(sp.SqlError, match="outside the project"):
        sp.analyze("INSERT `other-proj.ds.t` (a) SELECT 1", "cbi-v14")


def test_information_schema_and_unnest_are_not_tables():
    assert one("SELECT table_name FROM raw.INFORMATION_SCHEMA.TABLES").reads == ()
    assert one("SELECT * FROM ds.t AS x, x.items AS item").reads == ("ds.t",)
    assert one("SELECT * FROM ds.shard_* WHERE _TABLE_SUFFIX = '1'").reads == ("ds.shard_*",)


def test_table_names_with_spaces_and_unicode():
    assert one("SELECT * FROM `raw.मौसम 2019`").reads == ("raw.मौसम 2019",)


# ---------------------------------------------------------------- destructive statements


@pytest.mark.parametrize("text,kind,why", [
    ("DELETE FROM ds.t", "DELETE", "without a WHERE"),
    ("DELETE ds.t WHERE TRUE", "DELETE", "WHERE TRUE"),
    ("DROP\n  -- why not\n  TABLE /* really */\n  `ds.t`", "DROP TABLE", "DROP TABLE ds.t"),
    ("DROP VIEW ds.v", "DROP VIEW", "DROP VIEW ds.v"),
    ("DROP SCHEMA ds CASCADE", "DROP SCHEMA", "every table in it"),
    ("TRUNCATE TABLE ds.t", "TRUNCATE TABLE", "deletes every row"),
    ("CREATE\nOR /* keep it fresh */ REPLACE\n-- rebuilt\nTABLE ds.t AS SELECT 1 AS a", "CREATE OR REPLACE TABLE",
     "replaces its data"),
    ("MERGE ds.t T USING ds.s S ON T.k = S.k WHEN NOT MATCHED BY SOURCE THEN DELETE", "MERGE",
     "WHEN NOT MATCHED BY SOURCE THEN DELETE"),
    ("ALTER TABLE ds.t DROP COLUMN c", "ALTER TABLE", "DROP c"),
])
def test_destructive_statements_are_found_on_the_tree(text, kind, why):
    s = one(text)
    assert s.kind == kind
    assert s.destroys and why in s.destroys, s.destroys


@pytest.mark.parametrize("text", [
    "DELETE FROM ds.t WHERE date < '2000-01-01'",
    "MERGE ds.t T USING ds.s S ON T.k = S.k WHEN NOT MATCHED BY SOURCE AND T.d > '2020-01-01' THEN DELETE",
    "CREATE OR REPLACE VIEW ds.v AS SELECT 1 AS a",
    "CREATE TABLE IF NOT EXISTS ds.t (a INT64)",
    "-- DROP TABLE ds.t, TRUNCATE TABLE ds.t, CREATE OR REPLACE TABLE ds.t\nSELECT 'DELETE FROM ds.t' AS text",
])
def test_bounded_deletes_comments_and_strings_are_not_destructive(text):
    assert sp.analyze(text).destructive == ()


def test_the_shipped_sql_has_no_destructive_statement():
    for path in sorted((ROOT / "sql").glob("*/*.sql")):
        if path.parent.name not in ("transforms", "views", "ddl"):
            continue
        assert sp.analyze(path.read_text(encoding="utf-8"), "cbi-v14").destructive == (), path


# ---------------------------------------------------------------- bad SQL


@pytest.mark.parametrize("text,line,words", [
    ("SELECT 1;\nSELEC 2", 2, "not valid GoogleSQL"),
    ("SELECT 1;\nSELECT 'unclosed", 2, "missing closing"),
    ("SELECT (1,\n 2", 1, "unbalanced parentheses"),
    ("SELECT 1;\n\nSELECT * FROM\n  no_dataset", 4, "has no dataset"),
    ("EXECUTE IMMEDIATE 'DROP TABLE ds.t'", 1, "cannot be checked"),
    ("CALL ds.proc()", 1, "cannot be checked"),
    ("CREATE SCHEMA ds", 1, "declared in the spec"),
])
def test_bad_sql_is_refused_with_the_line(text, line, words):
    with pytest.raises(sp.SqlError) as e:
        sp.analyze(text)
    assert e.value.line == line and words in e.value.message, str(e.value)


def test_a_view_is_one_query():
    assert sp.query("SELECT 1 AS a UNION ALL SELECT 2").statements[0].kind == "SELECT"
    with pytest.raises(sp.SqlError, match="one query, found DELETE"):
        sp.query("DELETE FROM ds.t WHERE TRUE")
    with pytest.raises(sp.SqlError, match="2 statements"):
        sp.query("SELECT 1; SELECT 2")
    with pytest.raises(sp.SqlError, match="empty"):
        sp.query("-- nothing\n")


# ---------------------------------------------------------------- DDL files


def test_ddl_columns_as_written():
    found = sp.ddl_tables(
        "-- news\nCREATE TABLE IF NOT EXISTS `raw.news` (\n  published_at TIMESTAMP NOT NULL,\n"
        "  topics ARRAY<STRING>,\n  score NUMERIC(10, 2) OPTIONS (description = 'x'),\n"
        "  meta STRUCT<a INT64, b STRING> NOT NULL,\n  `my col` INT64 DEFAULT 0,\n"
        "  PRIMARY KEY (published_at) NOT ENFORCED\n) PARTITION BY DATE(published_at);\n")
    t = found["raw.news"]
    assert t.line == 2 and t.statement.startswith("CREATE TABLE IF NOT EXISTS `raw.news`")
    assert t.columns == (("published_at", "TIMESTAMP", "REQUIRED"), ("topics", "ARRAY<STRING>", "REPEATED"),
                         ("score", "NUMERIC(10, 2)", "NULLABLE"), ("meta", "STRUCT<A INT64, B STRING>", "REQUIRED"),
                         ("my col", "INT64", "NULLABLE"))


def test_ddl_type_is_judged_as_spelled():
    """sqlglot reads VARCHAR2(100) as STRING(100); the spelling is what BigQuery sees."""
    assert sp.ddl_tables("CREATE TABLE raw.n (title VARCHAR2(100))")["raw.n"].columns == (
        ("title", "VARCHAR2(100)", "NULLABLE"),)


@pytest.mark.parametrize("text,words", [
    ("CREATE TABLE raw.a (x INT64);\nDROP SCHEMA raw CASCADE", "only CREATE TABLE statements are allowed"),
    ("CREATE TABLE `victim-project.raw.news` (x INT64)", "names a project"),
    ("CREATE OR REPLACE TABLE raw.a (x INT64)", "replaces its data"),
    ("CREATE TABLE raw.a AS SELECT 1 AS x", "without a column list"),
    ("CREATE TABLE raw.a (x INT64);\nCREATE TABLE raw.a (y INT64)", "created twice"),
    ("CREATE TABLE raw.a (\n  x INT64,\n  y STRING", "unbalanced parentheses"),
])
def test_bad_ddl(text, words):
    with pytest.raises(sp.SqlError, match=words):
        sp.ddl_tables(text)
