"""Red team: mistaken or hostile input never destroys (issue 18).

A converged project (the bad-input corpus's base spec plus a transform building
`derived.by_station`) next to two datasets the spec does not own, `customer_pii` (a
table) and `finance_backup_keep` (a table and a view). Each attack replaces one file
of the project (a transform script, a view, a DDL file, the spec) with what the issue
tried, then runs `reconcile plan` and `reconcile apply --auto-approve` in process:

* a destructive or out-of-bounds transform is a plan-time block (exit 3) whose message
  names the file and the line, and apply runs nothing of it (exit 3);
* a view or DDL file that is not what it must be is bad input (exit 1, one line naming
  the file);

and the warehouse, the unmanaged datasets included, is compared before and after by
content checksums (`test_bad_inputs.state`): every refused case changes nothing. An allow
naming the statement lets it through (the gate is not a blanket refusal), and the
executor refuses a script whose file changed after the plan.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from test_bad_inputs import TARGET, make_project, state
from reconcile.bq.adapter import Adapter
from reconcile.cli import main as cli
from reconcile.local import emulator as local

pytestmark = [pytest.mark.reliability, pytest.mark.integration]

TRANSFORM = "sql/transforms/by_station.sql"
BUILD = """-- one row per station, rebuilt by MERGE
CREATE TABLE IF NOT EXISTS `{p}derived.by_station` (station STRING, days INT64);
MERGE `{p}derived.by_station` AS t
USING (SELECT station, COUNT(*) AS days FROM `{p}raw.weather` GROUP BY station) AS s
ON t.station = s.station
WHEN MATCHED THEN UPDATE SET days = s.days
WHEN NOT MATCHED THEN INSERT (station, days) VALUES (s.station, s.days);
"""

# (case, file replaced, text appended to / replacing it, exit of plan, words the message holds)
# `+` appends the attack after the good script (the transform still builds its output).
ATTACKS: list[tuple[str, str, str, int, list[str]]] = [
    ("drop_table", TRANSFORM, "+DROP TABLE `{p}derived.by_station`;", 3,
     [TRANSFORM, "line 8", "DROP TABLE {p}derived.by_station"]),
    ("truncate", TRANSFORM, "+TRUNCATE TABLE `{p}derived.by_station`;", 3,
     [TRANSFORM, "line 8", "TRUNCATE TABLE {p}derived.by_station deletes every row"]),
    ("delete_where_true", TRANSFORM, "+DELETE FROM `{p}derived.by_station` WHERE TRUE;", 3,
     [TRANSFORM, "line 8", "WHERE TRUE deletes every row"]),
    ("delete_tautology", TRANSFORM, "+DELETE FROM `{p}derived.by_station` WHERE 1 = 1 OR days > 0;", 3,
     [TRANSFORM, "line 8", "deletes every row"]),
    ("delete_no_where", TRANSFORM, "+DELETE `{p}derived.by_station`;", 3,
     [TRANSFORM, "line 8", "without a WHERE"]),
    ("replace_limit", TRANSFORM,
     "CREATE OR REPLACE TABLE `{p}derived.by_station` AS\nSELECT * FROM `{p}derived.by_station` LIMIT 1;", 3,
     [TRANSFORM, "line 1", "CREATE OR REPLACE TABLE {p}derived.by_station replaces its data"]),
    ("drop_unowned_schema", TRANSFORM, "+DROP SCHEMA `{p}customer_pii` CASCADE;", 3,
     [TRANSFORM, "line 8", "DROP SCHEMA {p}customer_pii"]),
    ("drop_schema_in_comment_trick", TRANSFORM, "+SELECT '''-- not a comment'''; DROP SCHEMA `{p}customer_pii`;", 3,
     [TRANSFORM, "line 8", "DROP SCHEMA {p}customer_pii"]),
    ("merge_not_matched_by_source", TRANSFORM,
     "+MERGE `{p}derived.by_station` t USING (SELECT 'x' AS station) s ON t.station = s.station\n"
     "WHEN NOT MATCHED BY SOURCE THEN DELETE;", 3,
     [TRANSFORM, "line 8", "NOT MATCHED BY SOURCE THEN DELETE"]),
    ("alter_rename", TRANSFORM, "+ALTER TABLE `{p}derived.by_station` RENAME TO gone;", 3,
     [TRANSFORM, "line 8", "RENAME"]),
    ("alter_drop_column", TRANSFORM, "+ALTER TABLE `{p}derived.by_station` DROP COLUMN days;", 3,
     [TRANSFORM, "line 8", "deletes a column's data"]),
    # Writes outside the declared outputs: bad input at load (the spec says what it builds).
    ("write_unmanaged_dataset", TRANSFORM, "+INSERT `{p}customer_pii`.people (name) VALUES ('x');", 1,
     [TRANSFORM, "customer_pii"]),
    ("write_other_project", TRANSFORM, "+INSERT `other-project.{p}raw.weather` (station) VALUES ('x');", 1,
     [TRANSFORM, "outside the project"]),
    ("dynamic_sql", TRANSFORM, "+EXECUTE IMMEDIATE 'DROP SCHEMA {p}customer_pii';", 1,
     [TRANSFORM, "line 8", "cannot be checked"]),
    # A view is exactly one query.
    ("view_two_statements", TARGET["view"], "SELECT 1 AS one; DROP SCHEMA `{p}customer_pii` CASCADE;", 1,
     [TARGET["view"], "a view is one query"]),
    ("view_dml", TARGET["view"], "DELETE FROM `{p}raw.weather` WHERE TRUE", 1,
     [TARGET["view"], "a view is one query"]),
    # DDL: CREATE TABLE only, for the tables the spec declares; the splitter knows
    # triple-quoted strings.
    ("ddl_triple_quoted", TARGET["ddl"],
     "CREATE TABLE IF NOT EXISTS `{p}raw.news` (title STRING) OPTIONS(description='''it's''');\n"
     "DROP SCHEMA `{p}customer_pii` CASCADE;", 1,
     [TARGET["ddl"], "line 2", "only CREATE TABLE"]),
    ("ddl_raw_string", TARGET["ddl"],
     "CREATE TABLE IF NOT EXISTS `{p}raw.news` (title STRING OPTIONS(description=r'a;b\\n'));\n"
     "TRUNCATE TABLE `{p}raw.weather`;", 1,
     [TARGET["ddl"], "only CREATE TABLE"]),
    ("ddl_undeclared_table", TARGET["ddl"],
     "CREATE TABLE IF NOT EXISTS `{p}raw.news` (title STRING);\n"
     "CREATE TABLE IF NOT EXISTS `{p}customer_pii.people2` (name STRING);", 1,
     [TARGET["ddl"], "line 2", "not declared"]),
]


def rows_changed(before: dict, after: dict) -> int:
    """Rows added, removed or rewritten between two `state()`s, over every data table
    (a table whose checksum moved with the same count counts as at least one row)."""
    b, a = before["checksums"], after["checksums"]
    total = 0
    for ref in set(b) | set(a):
        nb, cb = b.get(ref, (0, None))
        na, ca = a.get(ref, (0, None))
        total += abs(int(nb) - int(na)) or (1 if cb != ca else 0)
    return total


def _run(capsys, monkeypatch, endpoint: str, argv: list[str]) -> tuple[int, str, str]:
    monkeypatch.setenv("BIGQUERY_EMULATOR_HOST", endpoint)
    monkeypatch.setenv("NO_COLOR", "1")
    capsys.readouterr()
    code = cli.main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


def _project(root: Path, p: str, staging_src: Path) -> Path:
    spec = make_project(root, p, staging_src)
    (root / TRANSFORM).parent.mkdir(parents=True, exist_ok=True)
    (root / TRANSFORM).write_text(BUILD.format(p=p), encoding="utf-8")
    text = spec.read_text(encoding="utf-8").replace(f"  {p}ops: {{}}\n", f"  {p}ops: {{}}\n  {p}derived: {{}}\n", 1)
    text += "transforms:\n  by_station:\n    sql: sql/transforms/by_station.sql\n" \
            f"    outputs: [{p}derived.by_station]\n"
    spec.write_text(text, encoding="utf-8")
    return spec


def _unmanaged(adapter: Adapter, p: str) -> None:
    """Two datasets the spec does not own, with data (and a view)."""
    for ds in ("customer_pii", "finance_backup_keep"):
        adapter.create_dataset(p + ds, "us-central1")
    adapter.execute(f"CREATE TABLE `{p}customer_pii.people` AS SELECT 'ada' AS name, 1 AS id "
                    "UNION ALL SELECT 'bob', 2", location="us-central1")
    adapter.execute(f"CREATE TABLE `{p}finance_backup_keep.ledger` AS SELECT 1 AS id, 9.5 AS amount",
                    location="us-central1")
    adapter.execute(f"CREATE VIEW `{p}finance_backup_keep.v` AS SELECT id FROM `{p}finance_backup_keep.ledger`",
                    location="us-central1")


@pytest.fixture
def converged(emulator: local.LocalEmulator, adapter: Adapter, ds_prefix: str, tmp_path: Path,
              staging_src: Path, capsys, monkeypatch):
    p = ds_prefix
    spec = _project(tmp_path / "proj", p, staging_src)
    _unmanaged(adapter, p)
    code, out, err = _run(capsys, monkeypatch, emulator.endpoint,
                          ["apply", "--auto-approve", "--spec", str(spec), "--no-color"])
    assert code == 0, out + err
    code, out, err = _run(capsys, monkeypatch, emulator.endpoint, ["plan", "--spec", str(spec), "--no-color"])
    assert code == 0, out + err
    assert adapter.query(f"SELECT COUNT(*) AS n FROM `{p}derived.by_station`")[0]["n"] > 0
    return spec


@pytest.mark.timeout(400)
def test_every_sql_attack_is_refused_naming_file_and_line_and_changes_nothing(
        converged: Path, emulator: local.LocalEmulator, adapter: Adapter, ds_prefix: str,
        capsys, monkeypatch, figures) -> None:
    p, root = ds_prefix, converged.parent.parent
    before = state(adapter, p)
    assert f"{p}customer_pii.people" in before["checksums"] and f"{p}finance_backup_keep.ledger" in before["checksums"]
    problems, results = [], []
    for name, rel, attack, want, words in ATTACKS:
        target = root / rel
        good = target.read_text(encoding="utf-8")
        text = attack.format(p=p)
        target.write_text(good + text[1:] + "\n" if text.startswith("+") else text + "\n", encoding="utf-8")
        try:
            # apply plans first and prints the plan: its exit and message are the plan's.
            acode, aout, aerr = _run(capsys, monkeypatch, emulator.endpoint,
                                     ["apply", "--auto-approve", "--spec", str(converged), "--no-color"])
        finally:
            target.write_text(good, encoding="utf-8")
        after = state(adapter, p)
        why = []
        if acode != want:
            why.append(f"apply exit {acode}, expected {want}")
        shown = aerr if want == 1 else aout
        why += [f"message lacks {w.format(p=p)!r}" for w in words if w.format(p=p) not in shown]
        if after != before:
            why.append("the warehouse changed")
        if why:
            problems.append(f"{name}: {'; '.join(why)}\n  apply: {(aout + aerr)[-900:]}")
        results.append({"case": name, "file": rel, "apply_exit": acode,
                        "refused": acode == want and not why, "unchanged": after == before,
                        "rows_changed": rows_changed(before, after)})
        before = after
    figures.append("red_team", {"suite": "sql", "cases": len(results),
                                "refused": sum(r["refused"] for r in results),
                                "unchanged": sum(r["unchanged"] for r in results), "results": results})
    assert not problems, "\n".join(problems)


def test_an_allow_naming_the_statement_lets_it_run(converged: Path, emulator: local.LocalEmulator,
                                                   adapter: Adapter, ds_prefix: str, capsys, monkeypatch) -> None:
    """The gate refuses what is not named, not every DELETE: the allow names the statement's subject."""
    p, root = ds_prefix, converged.parent.parent
    (root / TRANSFORM).write_text(f"DELETE FROM `{p}derived.by_station` WHERE TRUE;\n"
                                  + BUILD.format(p=p), encoding="utf-8")
    code, out, _ = _run(capsys, monkeypatch, emulator.endpoint, ["plan", "--spec", str(converged), "--no-color"])
    assert code == 3 and f"allow: ['DELETE {p}derived.by_station']" in out, out
    spec = converged.read_text(encoding="utf-8")
    converged.write_text(spec.replace(f"    outputs: [{p}derived.by_station]\n",
                                      f"    outputs: [{p}derived.by_station]\n"
                                      f"    allow: ['DELETE {p}derived.by_station']\n"), encoding="utf-8")
    code, out, _ = _run(capsys, monkeypatch, emulator.endpoint, ["plan", "--spec", str(converged), "--no-color"])
    assert code == 0, out  # allowed, and nothing asks it to run: in sync


def test_the_executor_refuses_a_script_changed_after_the_plan(converged: Path, adapter: Adapter,
                                                              ds_prefix: str) -> None:
    from reconcile.apply.context import Context
    from reconcile.apply.results import ActionFailed
    from reconcile.apply.sqlgate import checked_transform_sql
    from reconcile.plan.actions import Plan
    from reconcile.spec.load import load_spec

    p, root = ds_prefix, converged.parent.parent
    desired = load_spec(converged, root=root)
    ctx = Context(Plan(project=desired.project, actions=()), desired, adapter, run_id="red-team")
    assert checked_transform_sql(ctx, "by_station") == BUILD.format(p=p)  # unchanged: the planned text
    (root / TRANSFORM).write_text(BUILD.format(p=p) + f"DROP SCHEMA `{p}customer_pii` CASCADE;\n", encoding="utf-8")
    with pytest.raises(ActionFailed, match="changed since the plan"):
        checked_transform_sql(ctx, "by_station")
    # A same-length swap is caught too (the text, not its size, is compared).
    (root / TRANSFORM).write_text(BUILD.format(p=p).replace("days = s.days", "days = 0 + 0"), encoding="utf-8")
    with pytest.raises(ActionFailed, match="changed since the plan"):
        checked_transform_sql(ctx, "by_station")
    assert adapter.query(f"SELECT COUNT(*) AS n FROM `{p}customer_pii.people`")[0]["n"] == 2
