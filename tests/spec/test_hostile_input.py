"""Issue 18 without BigQuery: the SQL gates as the pure planner sees them, the spec
validation added at load, and the staging-file gates (NaN and signed-zero keys,
overlapping loads, duplicate column names). The red-team suite runs the same attacks
against the local BigQuery (tests/reliability/test_red_team.py); these pin each rule."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from reconcile.plan.planner import plan
from reconcile.snapshot.model import LedgerEntry, Snapshot, TableState, DatasetState
from reconcile.spec import sqlparse
from reconcile.spec.load import load_spec
from reconcile.spec.model import Load, SpecError
from reconcile.spec.sources import SourceManifest, _key_problems, read_sources

BUILD = ("CREATE TABLE IF NOT EXISTS `d.out` (k STRING, n INT64);\n"
         "MERGE `d.out` t USING (SELECT k, COUNT(*) AS n FROM `d.src` GROUP BY k) s ON t.k = s.k\n"
         "WHEN MATCHED THEN UPDATE SET n = s.n WHEN NOT MATCHED THEN INSERT (k, n) VALUES (s.k, s.n);\n")


def project(tmp: Path, sql: str, extra: str = "") -> Path:
    (tmp / "sql").mkdir(parents=True, exist_ok=True)
    (tmp / "sql" / "t.sql").write_text(sql, encoding="utf-8")
    (tmp / "pyproject.toml").write_text("")
    spec = tmp / "spec.yaml"
    spec.write_text(textwrap.dedent("""\
        version: 1
        project: cbi-v14
        default_location: US
        datasets: {d: {}, ops: {}}
        tables:
          d.src: {columns: [{name: k, type: STRING}]}
        transforms:
          t:
            sql: sql/t.sql
            outputs: [d.out]
        """) + extra, encoding="utf-8")
    return spec


def snapshot(out_rows: int | None = 5, ledger: bool = True, extra: dict | None = None) -> Snapshot:
    tables = {"d.src": TableState(rows=10)}
    if out_rows is not None:
        tables["d.out"] = TableState(rows=out_rows)
    tables.update(extra or {})
    return Snapshot(project="cbi-v14", taken_at="2026-12-02T00:00:00+00:00",
                    datasets={"d": DatasetState(location="US"), "ops": DatasetState(location="US")},
                    tables=tables,
                    ledger=[LedgerEntry(table="d.out", source="transform:t", content_hash="x", rows=5)] if ledger else [])


def blocked_transform(spec: Path, snap: Snapshot):
    p = plan(load_spec(spec, root=spec.parent), snap, SourceManifest(()))
    return [a for a in p.actions if a.kind == "RunTransform"], p


@pytest.mark.parametrize("attack, words", [
    ("DROP TABLE `d.out`;", ["sql/t.sql line 4", "DROP TABLE d.out", "allow: ['DROP TABLE d.out']"]),
    ("TRUNCATE TABLE `d.out`;", ["sql/t.sql line 4", "TRUNCATE TABLE d.out deletes every row"]),
    ("DELETE FROM `d.out` WHERE TRUE;", ["line 4", "WHERE TRUE deletes every row"]),
    ("DELETE FROM `d.out` WHERE NOT FALSE AND 2 > 1;", ["line 4", "deletes every row"]),
    ("DROP SCHEMA `customer_pii` CASCADE;", ["line 4", "DROP SCHEMA customer_pii", "allow: ['DROP SCHEMA customer_pii']"]),
    ("MERGE `d.out` t USING `d.src` s ON t.k = s.k WHEN NOT MATCHED BY SOURCE THEN DELETE;",
     ["line 4", "NOT MATCHED BY SOURCE THEN DELETE"]),
    ("ALTER TABLE `d.out` RENAME TO gone;", ["line 4", "RENAME"]),
])
def test_a_destructive_transform_is_a_plan_time_block_naming_file_and_line(tmp_path, attack, words) -> None:
    actions, p = blocked_transform(project(tmp_path, BUILD + attack + "\n"), snapshot())
    assert p.exit_code() == 3
    [a] = actions
    reasons = " ".join(a.blocked_by)
    for w in words:
        assert w in reasons, reasons


def test_it_blocks_even_when_nothing_asks_the_transform_to_run(tmp_path) -> None:
    """Converged inputs (fingerprint recorded): the plan used to say 'In sync' over a DROP."""
    spec = project(tmp_path, BUILD + "DROP TABLE `d.out`;\n")
    actions, p = blocked_transform(spec, snapshot())
    assert p.exit_code() == 3 and actions[0].reason.startswith(("its SQL is refused", "inputs changed", "never built"))


def test_create_or_replace_is_destructive_only_over_rows(tmp_path) -> None:
    spec = project(tmp_path, "CREATE OR REPLACE TABLE `d.out` AS SELECT k, 1 AS n FROM `d.src` LIMIT 10;\n")
    fresh, _ = blocked_transform(spec, snapshot(out_rows=None, ledger=False))
    assert fresh and not fresh[0].blocked_by  # nothing to replace: the first build runs
    # Built before (the ledger says so), inputs changed since: it runs, over 5 rows.
    over, p = blocked_transform(spec, snapshot(out_rows=5))
    assert p.exit_code() == 3 and "replaces its data (5 rows)" in " ".join(over[0].blocked_by)


def test_an_allow_naming_the_statement_lets_it_through(tmp_path) -> None:
    spec = project(tmp_path, BUILD + "DELETE FROM `d.out` WHERE TRUE;\n")
    spec.write_text(spec.read_text().replace("    outputs: [d.out]\n",
                                             "    outputs: [d.out]\n    allow: ['DELETE d.out']\n"))
    actions, p = blocked_transform(spec, snapshot(out_rows=None, ledger=False))
    assert actions and not actions[0].blocked_by, actions


def test_a_declared_output_that_exists_is_the_spec_s_to_write(tmp_path) -> None:
    actions, p = blocked_transform(project(tmp_path, BUILD), snapshot(out_rows=5, ledger=False))
    assert not any(a.blocked_by for a in actions), actions


def test_a_write_into_an_existing_unmanaged_table_is_blocked(tmp_path) -> None:
    """Outputs filled from the SQL (none declared): the script writes d.notes, which
    exists and which nothing of the spec or this tool made."""
    spec = project(tmp_path, "INSERT `d.notes` (k) VALUES ('x');\n")
    spec.write_text(spec.read_text().replace("    outputs: [d.out]\n", ""))
    actions, p = blocked_transform(spec, snapshot(extra={"d.notes": TableState(rows=3)}))
    assert p.exit_code() == 3
    assert "writes d.notes, which exists and the spec does not manage" in " ".join(actions[0].blocked_by)


# ---------------------------------------------------------------- the SQL layer


def test_the_splitter_knows_triple_quoted_raw_strings_and_comments() -> None:
    s = sqlparse.analyze("SELECT '''it's; fine''' AS a, r'x;\\y' AS b -- ; not a statement\n"
                         "/* ; */ ;\nDROP SCHEMA `pii` CASCADE", "cbi-v14")
    assert [x.kind for x in s.statements] == ["SELECT", "DROP SCHEMA"]
    assert s.destroying == ((3, "DROP SCHEMA pii", "DROP SCHEMA pii deletes the dataset and every table in it"),)


def test_a_view_is_exactly_one_query() -> None:
    for text in ("SELECT 1; DROP SCHEMA pii CASCADE", "DELETE FROM d.t WHERE TRUE", "DECLARE x INT64; SELECT x"):
        with pytest.raises(sqlparse.SqlError, match="a view is one query"):
            sqlparse.query(text, "cbi-v14")


# ---------------------------------------------------------------- spec validation


def _spec(tmp: Path, body: str) -> Path:
    (tmp / "pyproject.toml").write_text("")
    p = tmp / "spec.yaml"
    p.write_text("version: 1\nproject: cbi-v14\ndefault_location: US\n" + textwrap.dedent(body), encoding="utf-8")
    return p


@pytest.mark.parametrize("body, words", [
    ("datasets: {ops: {}, d: {}}\ntables:\n  d.t: {columns: [{name: id, type: STRING}, {name: ID, type: STRING}]}\n",
     ["tables.d.t", "differ only in case"]),
    ("datasets: {ops: {}, Market_Data: {}, market_data: {}}\n", ["only in case"]),
    ("datasets: {ops: {}, market_data: {}}\nmigrations:\n  - {source: 'market_data.fwd_*', to: market_data, "
     "rename: {prefix: fwd_}}\n", ["migrations[0]", "match its own source pattern"]),
    ("datasets: {ops: {}, l: {}, d: {}}\nmigrations:\n  - {source: 'l.*', to: d, rename: {prefix: 'a`b'}}\n",
     ["rename.prefix", "invalid prefix"]),
    ("datasets: {ops: {}, d: {}}\ntables:\n  d.t: {columns: [{name: a, type: STRING}]}\narchive: {dataset: d, "
     "sources: ['*_backup']}\n", ["archive.dataset", "core dataset"]),
    ("datasets: {ops: {}, d: {}}\ntables:\n  d.t: {columns: [{name: a, type: STRING, description: '" + "x" * 1025
     + "'}]}\n", ["description", "1,024"]),
    ("datasets: {ops: {}, d: {description: '" + "x" * 16385 + "'}}\n", ["datasets.d.description", "16,384"]),
    ("datasets: {ops: {}, d: {}}\ntables:\n  d.t: {columns: [{name: a, type: STRING}]}\nloads:\n"
     "  - {source: s/a.parquet, table: d.t, keys: [a], precedence: 1}\n  - {source: s/b.parquet, table: d.t, keys: [a]}\n",
     ["loads[1].precedence", "declare it on all"]),
])
def test_spec_validation_refuses_at_load(tmp_path, body, words) -> None:
    with pytest.raises(SpecError) as e:
        load_spec(_spec(tmp_path, body), root=tmp_path)
    for w in words:
        assert w in str(e.value), str(e.value)


def test_a_view_reading_another_project_is_refused_at_load(tmp_path) -> None:
    (tmp_path / "v.sql").write_text("SELECT * FROM `other-project.pii.people`\n")
    body = "datasets: {ops: {}, d: {}}\nviews:\n  d.v: {sql: v.sql}\n"
    with pytest.raises(SpecError, match="in another project"):
        load_spec(_spec(tmp_path, body), root=tmp_path)


# ---------------------------------------------------------------- staging gates


def test_nan_and_signed_zero_keys_are_refused() -> None:
    t = pa.table({"k": pa.array([1.0, float("nan"), -0.0, 0.0, None]), "v": [1, 2, 3, 4, 5]})
    problems = _key_problems(t, ["k"])
    assert "key column k: 1 NaN value(s) (NaN never matches itself in a MERGE)" in problems
    assert any("1 signed zero(s) -0.0" in x for x in problems)
    assert _key_problems(pa.table({"k": [1.0, 2.0]}), ["k"]) == []


def test_overlapping_loads_into_one_table_are_refused_without_precedence() -> None:
    from reconcile.spec.sources import overlap_problems

    a, b = pa.table({"d": ["x", "y"]}), pa.table({"d": ["y", "z"]})
    la = Load(source="a.parquet", table="r.t", keys=["d"])
    lb = Load(source="b.parquet", table="r.t", keys=["d"])
    found = overlap_problems([(la, a), (lb, b)])
    assert found[0] == ["1 key(s) on (d) are also in b.parquet, loaded into the same table r.t: "
                        "declare a precedence on both loads"]
    assert overlap_problems([(la, a), (lb, pa.table({"d": ["z"]}))]) == {}


def test_duplicate_parquet_column_names_are_bad_input_not_a_traceback(tmp_path) -> None:
    (tmp_path / "s").mkdir()
    dup = pa.Table.from_arrays([pa.array(["a"]), pa.array(["b"])], names=["k", "K"])
    pq.write_table(dup, tmp_path / "s" / "f.parquet")
    body = ("datasets: {ops: {}, d: {}}\ntables:\n  d.t: {columns: [{name: k, type: STRING}]}\nloads:\n"
            "  - {source: s/f.parquet, table: d.t, keys: [k]}\n")
    desired = load_spec(_spec(tmp_path, body), root=tmp_path)
    with pytest.raises(SpecError, match=r"bad Parquet file: column 'K' appears twice \(as 'k'\)"):
        read_sources(desired)


def test_a_flow_reads_only_a_spec_inside_desired_state(tmp_path, monkeypatch) -> None:
    """`spec=/etc/shadow` as a Prefect parameter put the file's first line in the flow's
    state message; now the path itself is refused, and only the path is shown."""
    from reconcile.spec.load import flow_spec_path

    good = tmp_path / "desired_state" / "spec.yaml"
    good.parent.mkdir()
    good.write_text("version: 1\n")
    monkeypatch.chdir(tmp_path)
    assert flow_spec_path("desired_state/spec.yaml") == good.resolve()
    for bad in ("/etc/shadow", "/dev/zero", "desired_state/../../../etc/shadow.yaml", "desired_state", "",
                str(tmp_path / "elsewhere.yaml")):
        with pytest.raises(SpecError, match="flow parameter spec="):
            flow_spec_path(bad)
