"""The reference scan's SQL side (issue 17): table references with their lines, SQL
strings in Python found through its ast, the parser's rewrite, and the spec keys
`references` and `retire` as bad input. No BigQuery."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

from reconcile.spec import sqlparse
from reconcile.spec.load import load_spec
from reconcile.spec.model import SpecError
from reconcile.spec.sqlrefs import python_sql, rewrite, table_refs

LEGACY_SQL = textwrap.dedent("""\
    -- weekly report
    WITH recent AS (
      SELECT date, close FROM `old_wh.crude` WHERE date > '2010-01-01'
    )
    SELECT r.date, r.close, v.close AS vix
    FROM recent AS r JOIN old_wh.vix AS v USING (date);

    -- untouched
    SELECT 1 AS x FROM market.prices;
    """)


def test_table_refs_have_lines_and_skip_ctes_and_information_schema() -> None:
    assert table_refs(LEGACY_SQL) == [(3, "old_wh.crude"), (6, "old_wh.vix"), (9, "market.prices")]
    assert table_refs("SELECT * FROM old_wh.INFORMATION_SCHEMA.TABLES") == []
    # another project's table is not one of this project's datasets
    assert table_refs("SELECT * FROM `other-proj.old_wh.crude`", "cbi-v14") == []
    assert table_refs("SELECT * FROM `cbi-v14.old_wh.crude`", "cbi-v14") == [(1, "old_wh.crude")]
    with pytest.raises(sqlparse.SqlError):
        table_refs("SELECT FROM WHERE (")


def test_python_sql_strings_found_through_the_ast() -> None:
    source = textwrap.dedent('''\
        QUERY = """
        SELECT date, close
        FROM `old_wh.crude`
        """

        def load(client, table):
            client.query("INSERT INTO old_wh.vix (date) VALUES ('2020-01-01')")
            print("select the old_wh.crude table")  # prose, not SQL
            client.query(f"SELECT * FROM old_wh.{table}")  # an f-string: known only when it runs
        ''')
    assert python_sql(source) == [(3, "old_wh.crude"), (7, "old_wh.vix")]
    with pytest.raises(SyntaxError):
        python_sql("def (:")


def test_rewrite_goes_through_the_parser_and_keeps_the_rest() -> None:
    new, done = rewrite(LEGACY_SQL, {"old_wh.crude": "market.fwd_crude", "old_wh.vix": "market.fwd_vix"})
    assert sorted(done) == [(3, "old_wh.crude", "market.fwd_crude"), (6, "old_wh.vix", "market.fwd_vix")]
    # the result parses, names only the new tables, and keeps comments and the untouched statement
    assert sorted({t for _, t in table_refs(new)}) == ["market.fwd_crude", "market.fwd_vix", "market.prices"]
    assert new.startswith("-- weekly report\n") and new.count("-- weekly report") == 1
    assert new.endswith("-- untouched\nSELECT 1 AS x FROM market.prices;\n")
    # a name that only looks like the table (a string, a column) is never renamed
    text = "SELECT 'old_wh.crude' AS label, crude FROM old_wh.crude AS crude"
    new, done = rewrite(text, {"old_wh.crude": "market.fwd_crude"})
    assert "'old_wh.crude'" in new and "FROM market.fwd_crude AS crude" in new and len(done) == 1
    assert rewrite("SELECT 1", {"old_wh.crude": "market.fwd_crude"}) == ("SELECT 1", [])


SPEC = """\
project: cbi-v14
default_location: us-central1
datasets: {{ops: {{}}, market: {{}}, archive_2025: {{}}}}
migrations:
  - {{source: "old_wh.*", to: market, rename: {{prefix: fwd_}}}}
archive: {{dataset: archive_2025, sources: [old_wh]}}
{extra}
"""


def write(root: Path, extra: str) -> Path:
    (root / "desired_state").mkdir(exist_ok=True)
    p = root / "desired_state" / "spec.yaml"
    p.write_text(SPEC.format(extra=extra))
    return p


def test_scanned_files_give_file_references(tmp_path: Path) -> None:
    (tmp_path / "scripts" / "etl").mkdir(parents=True)
    (tmp_path / "scripts" / "etl" / "report.sql").write_text(LEGACY_SQL)
    (tmp_path / "scripts" / "etl" / "ingest.py").write_text('Q = "SELECT * FROM old_wh.crude"\n')
    (tmp_path / "scripts" / "notes.txt").write_text("SELECT * FROM old_wh.crude")
    d = load_spec(write(tmp_path, 'references: {scan: ["scripts/**/*.sql", "scripts/**/*.py"]}\n'
                                  "retire: [old_wh]"), root=tmp_path)
    got = [(f.file, f.line, f.table, f.kind) for f in d.file_references]
    assert got == [("scripts/etl/ingest.py", 1, "old_wh.crude", "Python"),
                   ("scripts/etl/report.sql", 3, "old_wh.crude", "SQL file"),
                   ("scripts/etl/report.sql", 6, "old_wh.vix", "SQL file")]
    assert d.migrated_name("old_wh.crude") == "market.fwd_crude" and d.retire == ["old_wh"]


@pytest.mark.parametrize("extra, field, message", [
    ('references: {scan: ["../elsewhere/*.sql"]}', "references.scan", "escapes the project"),
    ('references: {scan: ["/etc/*.sql"]}', "references.scan", "escapes the project"),
    ('references: {scan: ["scripts/*.sh"]}', "references.scan", "only .sql and .py"),
    ("references: {waivers: [{object: dash.v, reason: '  '}]}", "references.waivers", "must not be empty"),
    ("retire: [market]", "retire[0]", "declared dataset"),
    ("retire: [archive_2025]", "retire[0]", "declared dataset"),
    ("retire: [old_wh, old_wh]", "retire", "listed twice"),
])
def test_bad_reference_and_retire_keys(tmp_path: Path, extra: str, field: str, message: str) -> None:
    with pytest.raises(SpecError) as e:
        load_spec(write(tmp_path, extra), root=tmp_path)
    assert field in str(e.value) and message in str(e.value)


def test_retire_needs_an_archive_and_is_never_kept(tmp_path: Path) -> None:
    p = write(tmp_path, "retire: [old_wh]")
    p.write_text(p.read_text().replace("archive: {dataset: archive_2025, sources: [old_wh]}",
                                       "archive: {dataset: archive_2025, sources: [old_wh], keep: [old_wh]}"))
    with pytest.raises(SpecError, match=r"retire\[0\]: 'old_wh' is in archive.keep"):
        load_spec(p, root=tmp_path)
    p.write_text(p.read_text().replace("archive: {dataset: archive_2025, sources: [old_wh], keep: [old_wh]}", ""))
    with pytest.raises(SpecError, match=r"retire\[0\]: retiring a dataset archives it first"):
        load_spec(p, root=tmp_path)


def test_a_scanned_file_that_does_not_parse_names_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "scripts").mkdir()
    (tmp_path / "scripts" / "bad.sql").write_text("SELECT 1;\n\nSELECT * FROM (old_wh.crude\n")
    with pytest.raises(SpecError, match=r"scripts/bad.sql: line 3: reference scan: unbalanced parentheses"):
        load_spec(write(tmp_path, 'references: {scan: ["scripts/*.sql"]}'), root=tmp_path)


def test_a_scanned_path_leading_out_of_the_project_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "x.sql").write_text("SELECT * FROM old_wh.crude")
    root = tmp_path / "project"
    (root / "scripts").mkdir(parents=True)
    os.symlink(outside / "x.sql", root / "scripts" / "x.sql")
    with pytest.raises(SpecError, match=r"references.scan\[0\]: scripts/x.sql leads outside the project"):
        load_spec(write(root, 'references: {scan: ["scripts/*.sql"]}'), root=root)
