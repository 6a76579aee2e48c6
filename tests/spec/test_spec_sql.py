"""Every SQL text the spec references is parsed when the spec is loaded: bad SQL is bad
input (file, line, message; exit 1; nothing sent), and a transform's inputs and outputs
come from its SQL (a declared list that disagrees is an error showing both lists)."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_bad_input import GOOD, project, write  # noqa: F401 - `project` is a fixture

from reconcile.cli import main as cli
from reconcile.spec.load import load_spec

ROOT = Path(__file__).resolve().parents[2]

WITH_TRANSFORM = GOOD.replace("  ops: {}\n", "  ops: {}\n  features: {}\n") + """\
views:
  raw.by_station: {sql: sql/by_station.sql}
transforms:
  weekly:
    sql: sql/weekly.sql
    inputs: [raw.weather]
    outputs: [features.weekly]
"""
WEEKLY = """-- weekly aggregates
CREATE TABLE IF NOT EXISTS features.weekly (week DATE NOT NULL, station STRING, n INT64);
MERGE features.weekly T
USING (SELECT DATE_TRUNC(date, WEEK) AS week, station, COUNT(*) AS n FROM raw.weather GROUP BY 1, 2) S
ON T.week = S.week AND T.station = S.station
WHEN NOT MATCHED THEN INSERT (week, station, n) VALUES (S.week, S.station, S.n);
"""
BY_STATION = "SELECT station, COUNT(*) AS n FROM raw.weather GROUP BY station\n"


def setup(root: Path, spec: str = WITH_TRANSFORM, weekly: str = WEEKLY, view: str = BY_STATION) -> Path:
    (root / "sql").mkdir(exist_ok=True)
    (root / "sql" / "weekly.sql").write_text(weekly)
    (root / "sql" / "by_station.sql").write_text(view)
    return write(root, spec)


def refused(capsys, spec: Path, lst) -> str:
    code = cli.main(["plan", "--spec", str(spec)])
    err = capsys.readouterr().err
    assert code == 1, err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert lst.connections == 0
    return err


def test_declared_lists_that_agree_load(project):
    root, _ = project
    d = load_spec(setup(root), root=root)
    assert d.transforms["weekly"].inputs == ["raw.weather"]
    assert d.transforms["weekly"].outputs == ["features.weekly"]
    assert d.sql_info["sql/weekly.sql"].creates == ["features.weekly"]
    assert d.view_reads("raw.by_station") == ["raw.weather"]


def test_empty_lists_are_filled_from_the_sql(project):
    root, _ = project
    spec = WITH_TRANSFORM.replace("    inputs: [raw.weather]\n    outputs: [features.weekly]\n", "")
    d = load_spec(setup(root, spec), root=root)
    assert d.transforms["weekly"].inputs == ["raw.weather"]
    assert d.transforms["weekly"].outputs == ["features.weekly"]


def test_outputs_that_disagree_with_the_sql_show_both_lists(project, capsys):
    root, lst = project
    spec = setup(root, WITH_TRANSFORM.replace("outputs: [features.weekly]", "outputs: [features.weekly, features.daily]"))
    err = refused(capsys, spec, lst)
    assert "desired_state/spec.yaml: transforms.weekly.outputs:" in err
    assert "declared [features.daily, features.weekly], but sql/weekly.sql writes [features.weekly]" in err


def test_inputs_that_disagree_with_the_sql_show_both_lists(project, capsys):
    root, lst = project
    spec = setup(root, WITH_TRANSFORM.replace("inputs: [raw.weather]", "inputs: [raw.stations]"))
    err = refused(capsys, spec, lst)
    assert "transforms.weekly.inputs: declared [raw.stations], but sql/weekly.sql reads [raw.weather]" in err


def test_inputs_may_list_what_the_transform_also_writes(project):
    root, _ = project
    spec = WITH_TRANSFORM.replace("inputs: [raw.weather]", "inputs: [raw.weather, features.weekly]")
    assert load_spec(setup(root, spec), root=root).transforms["weekly"].inputs == ["raw.weather", "features.weekly"]


def test_fixes_must_match_an_output(project, capsys):
    root, lst = project
    spec = setup(root, WITH_TRANSFORM + "    fixes: ['raw.*:placeholders']\n")
    err = refused(capsys, spec, lst)
    assert "transforms.weekly.fixes[0]" in err and "matches none of the transform's outputs" in err


@pytest.mark.parametrize("which,text,words", [
    ("view", "SELECT station,\n  COUNT(* AS n\nFROM raw.weather", ["sql/by_station.sql: line 2:", "unbalanced parentheses"]),
    ("view", "SELECT station FROM raw.weather;\nDELETE FROM raw.weather WHERE TRUE", ["sql/by_station.sql: line 2:",
                                                                                      "a view is one query"]),
    ("view", "SELECT * FROM weather", ["sql/by_station.sql: line 1:", "has no dataset"]),
    ("transform", WEEKLY + "SELEC 1;\n", ["sql/weekly.sql: line 7:", "not valid GoogleSQL"]),
    ("transform", WEEKLY + "EXECUTE IMMEDIATE 'DROP TABLE raw.weather';\n",
     ["sql/weekly.sql: line 7:", "cannot be checked"]),
    ("transform", WEEKLY.replace("MERGE features.weekly", "MERGE `victim-proj.features.weekly`"),
     ["sql/weekly.sql: line 3:", "outside the project"]),
])
def test_sql_that_cannot_be_checked_is_bad_input(project, capsys, which, text, words):
    root, lst = project
    spec = setup(root, **({"view": text} if which == "view" else {"weekly": text}))
    err = refused(capsys, spec, lst)
    for w in words:
        assert w in err, (w, err)


def test_ddl_errors_name_the_line(project, capsys):
    root, lst = project
    spec = GOOD.replace("tables:\n", "tables:\n  raw.news: {ddl: sql/news.sql}\n")
    (root / "sql").mkdir()
    (root / "sql" / "news.sql").write_text("CREATE TABLE IF NOT EXISTS raw.news (title STRING);\n\n"
                                           "DROP\n  -- tidy up\n  TABLE raw.weather;\n")
    err = refused(capsys, write(root, spec), lst)
    assert "sql/news.sql: line 3: bad DDL: only CREATE TABLE statements are allowed" in err


def test_the_shipped_spec_declares_what_its_sql_says():
    d = load_spec(ROOT / "desired_state" / "cbi-v14.yaml")
    for name, tr in d.transforms.items():
        info = d.sql_info[tr.sql]
        assert set(tr.outputs) == set(info.writes), name
        assert set(tr.inputs) - set(info.writes) == set(info.inputs), name
    assert set(d.view_reads("monitoring.regime_distribution")) == {
        "regimes.regime_calendar", "regimes.regime_weights",
        "training.zl_training_prod_allhistory_1m", "training.zl_training_prod_allhistory_3m"}


def test_a_transform_that_writes_nothing_is_refused(project, capsys):
    root, lst = project
    spec = setup(root, WITH_TRANSFORM.replace("    inputs: [raw.weather]\n    outputs: [features.weekly]\n", ""),
                 weekly="SELECT COUNT(*) AS n FROM raw.weather;\n")
    err = refused(capsys, spec, lst)
    assert "transforms.weekly.sql: sql/weekly.sql writes no table" in err
