"""`reconcile spec-diff`: the spec at a git ref against the working tree.

Each case edits the fixture spec in a temporary git repository as a pull request
would; the Markdown is compared with golden/specdiff_<case>.md
(UPDATE_GOLDEN=1 rewrites them).
"""

from __future__ import annotations

import json

import pytest

from reconcile.cli import main as cli
from reconcile.review.specdiff import GitError, render_json, render_markdown, spec_diff

from pr_helpers import SPEC, check_golden

PRICES_CLOSE = "      - {name: close, type: FLOAT64}\n"


def added_dataset(repo):
    repo.replace("  ops: {}\n", "  ops: {}\n  signals: {description: Trading signals}\n")


def changed_location(repo):
    repo.replace("market_data: {description: Prices}", "market_data: {location: US, description: Prices}")


def dropped_column(repo):
    repo.edit(SPEC, lambda s: s.replace(PRICES_CLOSE, "", 1))


def loosened_expectation(repo):
    repo.replace("min_distinct: {regime: 7}", "min_distinct: {regime: 5}")
    repo.replace("ranges: {training_weight: {min: 50, max: 1000}}",
                 "ranges: {training_weight: {min: 10, max: 1000}}")
    repo.replace("placeholders: {regime: [allhistory]}", "placeholders: {regime: []}")
    repo.replace("from: 2000-01-01, to: 2025-12-31", "from: 2010-01-01, to: 2025-12-31")


def renamed_table(repo):
    repo.edit(SPEC, lambda s: s.replace("  raw.weather:\n", "  raw.weather_daily:\n")
              .replace("table: raw.weather,", "table: raw.weather_daily,"))


CASES = {
    "added_dataset": (added_dataset, 2),
    "changed_location": (changed_location, 3),
    "dropped_column": (dropped_column, 3),
    "loosened_expectation": (loosened_expectation, 3),
    "renamed_table": (renamed_table, 3),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_golden_markdown(repo, case):
    change, code = CASES[case]
    change(repo)
    d = spec_diff(repo.spec, "main")
    assert d.exit_code() == code
    check_golden(f"specdiff_{case}.md", render_markdown(d))


def test_added_dataset_is_not_destructive(repo):
    added_dataset(repo)
    d = spec_diff(repo.spec, "main")
    assert [(c.section, c.object, c.change) for c in d.changes] == [("datasets", "signals", "added")]
    assert d.destructive == ()


def test_changed_location_names_file_field_and_stake(repo):
    changed_location(repo)
    (c,) = spec_diff(repo.spec, "main").changes
    assert (c.file, c.field) == (SPEC, "datasets.market_data.location")
    assert "must be recreated" in c.destructive[0]
    assert [(s.kind, s.name) for s in c.stakes] == [("dataset", "market_data")]


def test_default_location_change_moves_every_dataset(repo):
    repo.replace("default_location: us-central1", "default_location: europe-west1")
    d = spec_diff(repo.spec, "main")
    moved = sorted(c.object for c in d.destructive if c.section == "datasets")
    assert moved == ["archive_2025", "market_data", "ops", "raw", "training"]


def test_dropped_column_and_type_change(repo):
    repo.edit(SPEC, lambda s: s.replace(PRICES_CLOSE, "      - {name: close, type: STRING}\n", 1))
    (c,) = spec_diff(repo.spec, "main").changes
    assert c.details == ("columns.close.type: FLOAT64 -> STRING",)
    assert "type FLOAT64 -> STRING" in c.destructive[0]


def test_ddl_file_read_from_the_base_commit(repo):
    # Only the DDL file changes: the base must have read the old file from git.
    repo.replace("  score FLOAT64\n", "  score STRING\n", rel="sql/news.sql")
    (c,) = spec_diff(repo.spec, "main").changes
    assert (c.section, c.object) == ("tables", "raw.news")
    assert any("score type FLOAT64 -> STRING" in r for r in c.destructive)


def test_merge_key_change_is_destructive(repo):
    repo.replace("keys: [date, station]", "keys: [date]")
    (c,) = spec_diff(repo.spec, "main").changes
    assert c.section == "loads" and c.object == "raw.weather"
    assert c.destructive and "merge key (date, station) -> (date)" in c.destructive[0]


def test_tightened_expectation_is_not_destructive(repo):
    repo.replace("min_distinct: {regime: 7}", "min_distinct: {regime: 9}")
    repo.replace("placeholders: {regime: [allhistory]}", "placeholders: {regime: [allhistory, TBD]}")
    d = spec_diff(repo.spec, "main")
    assert d.exit_code() == 2 and len(d.changes) == 1 and not d.destructive


def test_dropped_table_and_dataset(repo):
    repo.edit(SPEC, lambda s: s.replace("  raw.news:\n    ddl: sql/news.sql\n", ""))
    d = spec_diff(repo.spec, "main")
    (c,) = d.changes
    assert (c.change, c.object) == ("removed", "raw.news") and c.is_destructive
    assert d.exit_code() == 3


def test_archive_delete_and_keep(repo):
    repo.replace("keep: [legacy_models]", "keep: []\n  delete_sources: true")
    (c,) = spec_diff(repo.spec, "main").changes
    assert any("delete_sources turned on" in r for r in c.destructive)
    assert any("keep legacy_models removed" in r for r in c.destructive)


def test_committed_changes_are_compared_too(repo):
    changed_location(repo)
    repo.commit("pr commit")
    assert spec_diff(repo.spec, "main").exit_code() == 3
    assert spec_diff(repo.spec, "HEAD").exit_code() == 0


def test_no_change_exit_0(repo):
    d = spec_diff(repo.spec, "main")
    assert d.changes == () and d.exit_code() == 0


def test_new_spec_file_is_all_added(repo):
    (repo.root / "desired_state" / "other.yaml").write_text(repo.spec.read_text())
    d = spec_diff(repo.root / "desired_state" / "other.yaml", "main")
    assert d.base_missing and {c.change for c in d.changes} == {"added"}


def test_unknown_ref_is_a_clear_error(repo):
    with pytest.raises(GitError, match="'nope' is not a commit"):
        spec_diff(repo.spec, "nope")


def test_json_and_cli_exit_codes(repo, monkeypatch, capsys):
    dropped_column(repo)
    doc = json.loads(render_json(spec_diff(repo.spec, "main")))
    assert doc["exit_code"] == 3 and doc["changes"][0]["field"] == "tables.market_data.prices"
    monkeypatch.chdir(repo.root)
    assert cli.main(["spec-diff", "--base", "main", "--spec", SPEC, "--format", "json"]) == 3
    assert json.loads(capsys.readouterr().out)["destructive"] == 1
    assert cli.main(["spec-diff", "--base", "nope", "--spec", SPEC]) == 1
    assert "is not a commit" in capsys.readouterr().err
