"""`reconcile refs` on the local BigQuery (issue 17): what still reads a legacy dataset —
a live view, a routine, a scanned SQL file and a SQL string in a Python script — each
with its new name; `--fix` rewrites the SQL file through the parser and prints the diff;
waivers with reasons lift the rest. Tables are created empty: the scan reads
definitions, never rows. Nothing mocks the client."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from google.api_core.exceptions import Conflict
from google.cloud import bigquery

from reconcile.bq.adapter import Adapter
from reconcile.cli import main as cli
from reconcile.snapshot.read import read_snapshot
from reconcile.spec.load import load_spec
from reconcile.spec.sqlrefs import table_refs


def spec_text(p: str, waivers: str = "") -> str:
    return textwrap.dedent(f"""\
        project: cbi-v14
        default_location: us-central1
        ops_dataset: {p}ops
        datasets: {{{p}ops: {{}}, {p}market: {{}}, {p}archive: {{}}}}
        migrations:
          - {{source: "{p}old.*", to: {p}market, rename: {{prefix: fwd_}}}}
        archive: {{dataset: {p}archive, sources: [{p}old]}}
        retire: [{p}old]
        references:
          scan: ["scripts/**/*.sql", "scripts/**/*.py"]
        """) + waivers


@pytest.fixture
def legacy(adapter: Adapter, ds_prefix: str, project_root: Path, monkeypatch, emulator) -> Path:
    p = ds_prefix
    monkeypatch.setenv("BIGQUERY_EMULATOR_HOST", emulator.endpoint)
    adapter.create_dataset(f"{p}old", "US")
    adapter.create_dataset(f"{p}dash", "US")
    adapter.create_table(f"{p}old.crude", [("date", "DATE", "NULLABLE"), ("close", "FLOAT64", "NULLABLE")])
    adapter.execute(f"CREATE VIEW {adapter.q(f'{p}dash.weekly')} AS "
                    f"SELECT date, close FROM `{p}old.crude`", location="US")
    routine = bigquery.Routine(f"cbi-v14.{p}dash.last_close", type_="SCALAR_FUNCTION", language="SQL",
                               body=f"(SELECT MAX(close) FROM `{p}old.crude`)", arguments=[],
                               return_type=bigquery.StandardSqlDataType(
                                   type_kind=bigquery.StandardSqlTypeNames.FLOAT64))
    try:
        adapter.client.create_routine(routine)
    except Conflict:
        # bqemulator 1.4.0 answers a new routine's insert with 409 Already Exists, having
        # created it (docs/emulator.md); BigQuery answers 200.
        pass
    assert adapter.client.get_routine(routine.reference).body == routine.body
    scripts = project_root / "scripts" / "etl"
    scripts.mkdir(parents=True)
    (scripts / "report.sql").write_text(f"-- weekly report\nSELECT date, close\nFROM `{p}old.crude`\nWHERE close > 0;\n")
    (scripts / "load.py").write_text(f'def load(client):\n    client.query("DELETE FROM {p}old.crude WHERE TRUE")\n')
    (project_root / "desired_state" / "spec.yaml").write_text(spec_text(p))
    return project_root


def run(capsys, root: Path, *argv: str) -> tuple[int, str]:
    code = cli.main(["refs", "--spec", str(root / "desired_state" / "spec.yaml"), *argv])
    out, err = capsys.readouterr()
    return code, out + err


def test_refs_names_every_holder_and_the_new_name(legacy: Path, capsys, ds_prefix: str) -> None:
    p = ds_prefix
    code, out = run(capsys, legacy)
    assert code == 3, out
    new = f"(now {p}market.fwd_crude)"
    for line in (f"view {p}dash.weekly reads {p}old.crude {new}",
                 f"routine {p}dash.last_close reads {p}old.crude {new}",
                 f"scripts/etl/report.sql:3 (SQL file) reads {p}old.crude {new} — `reconcile refs --fix` rewrites it",
                 f"scripts/etl/load.py:2 (Python) reads {p}old.crude {new}"):
        assert line in out, out
    code, out = run(capsys, legacy, "--format", "json")
    doc = json.loads(out)
    assert code == 3 and doc["remaining"] == 4 and doc["views_and_routines_read"] is True
    assert {r["kind"] for r in doc["references"]} == {"view", "routine", "SQL file", "Python"}


def test_emulator_routines_body_read_through_routines_get(legacy: Path, adapter: Adapter, ds_prefix: str) -> None:
    """The emulator's ROUTINES.ddl elides the body (docs/emulator.md): it is read with routines.get."""
    desired = load_spec(legacy / "desired_state" / "spec.yaml", root=legacy)
    s = read_snapshot(adapter, desired, references=True)
    r = s.routines[f"{ds_prefix}dash.last_close"]
    assert r.type == "SCALAR_FUNCTION" and table_refs(r.definition) == [(1, f"{ds_prefix}old.crude")]


def test_fix_rewrites_the_sql_file_through_the_parser_and_waivers_lift_the_rest(
        legacy: Path, capsys, ds_prefix: str) -> None:
    p = ds_prefix
    report = legacy / "scripts" / "etl" / "report.sql"
    code, out = run(capsys, legacy, "--fix")
    assert f"--- a/scripts/etl/report.sql\n+++ b/scripts/etl/report.sql" in out
    assert f"-FROM `{p}old.crude`" in out and f"+FROM `{p}market.fwd_crude`" in out
    text = report.read_text()
    assert text.startswith("-- weekly report\n") and [t for _, t in table_refs(text)] == [f"{p}market.fwd_crude"]
    assert code == 3  # the view, the routine and the Python string remain
    code, out = run(capsys, legacy)
    assert code == 3 and "report.sql" not in out and "3 remaining, 0 waived" in out, out
    # The live view, the routine and the Python string are for a human: waived, with reasons.
    (legacy / "desired_state" / "spec.yaml").write_text(spec_text(
        p, f'  waivers:\n'
           f'    - {{object: {p}dash.*, reads: "{p}old.*", reason: "dashboards are retired with {p}old"}}\n'
           f'    - {{object: scripts/etl/load.py, reason: "the loader is deleted in the same change"}}\n'))
    code, out = run(capsys, legacy)
    assert code == 0, out
    assert "0 remaining, 3 waived" in out and "waived: dashboards are retired" in out
    # and --fix changes nothing more
    code, out = run(capsys, legacy, "--fix")
    assert code == 0 and "--- a/" not in out and report.read_text() == text


def test_a_scanned_file_that_does_not_parse_is_bad_input(project_root: Path, capsys, monkeypatch) -> None:
    """Exit 1 with the file and line: the spec does not load, so nothing connects (no
    emulator is named here at all)."""
    monkeypatch.delenv("BIGQUERY_EMULATOR_HOST", raising=False)
    (project_root / "scripts").mkdir()
    (project_root / "scripts" / "bad.sql").write_text("SELECT 1;\nSELECT * FROM (old.crude\n")
    (project_root / "desired_state" / "spec.yaml").write_text(spec_text("t_"))
    code, out = run(capsys, project_root)
    assert code == 1 and "scripts/bad.sql: line 2: reference scan: unbalanced parentheses" in out, out
