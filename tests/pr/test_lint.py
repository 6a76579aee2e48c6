"""`reconcile lint`: each rule fails on one spec and passes on another; waivers.

Specs are the PR fixture's, edited in a temporary folder (no git needed here).
"""

from __future__ import annotations

import json
import shutil

import pytest
from pr_helpers import FIXTURE, SPEC, Repo

from reconcile.cli import main as cli
from reconcile.review.lint import RULE_NAMES, lint_spec


@pytest.fixture
def proj(tmp_path) -> Repo:
    root = tmp_path / "project"
    shutil.copytree(FIXTURE, root, ignore=shutil.ignore_patterns("snapshot.json"))
    return Repo(root)


def findings(proj, rule=None):
    r = lint_spec(proj.spec)
    return [f for f in r.violations if rule is None or f.rule == rule], r


def add_waiver(proj, rule, obj, reason="accepted for the test"):
    proj.edit(SPEC, lambda s: s + f"waivers:\n  - {{rule: {rule}, object: '{obj}', reason: '{reason}'}}\n")


# --------------------------------------------------------------------- each rule fails...

def bad_location(p):
    p.replace("market_data: {description: Prices}", "market_data: {location: US, description: Prices}")


def bad_truncate(p):
    p.edit("sql/assign_regimes.sql", lambda s: "-- rebuild\nCREATE OR REPLACE TABLE training.zl_training_1m AS\n"
                                               "SELECT * FROM training.zl_training_1m\n")


def bad_merge_key(p):
    p.replace("keys: [date, station]", "keys: [date, station_id]")


def bad_backup(p):
    p.replace("rename: {replace: [training_data_, zl_training_]}}",
              "rename: {replace: [training_data_, zl_training_]}, backup: false}")


def bad_placeholder_gate(p):
    p.replace("default_location: us-central1\n", "default_location: us-central1\nplaceholder_values: []\n")


def bad_training(p):
    p.edit(SPEC, lambda s: s[: s.index("expectations:\n")] + s[s.index("transforms:\n"):])


def bad_keep_pattern(p):
    p.replace("keep: [legacy_models]", "keep: [legacy_modles]")


def bad_delete_migrated(p):
    p.replace("keep: [legacy_models]", "keep: []\n  delete_sources: true")


FAILING = {
    # rule, edit, object, field, words in the message
    "dataset-location": (bad_location, "market_data", "datasets.market_data.location", "declared in US"),
    "merge-not-truncate": (bad_truncate, "assign_regimes", "transforms.assign_regimes.sql",
                           "sql/assign_regimes.sql line 2: CREATE OR REPLACE TABLE"),
    "merge-not-truncate/key": (bad_merge_key, "raw.weather", "loads[1].keys", "station_id is not a column"),
    "migration-backup": (bad_backup, "legacy_models.training_data_*", "migrations[0].backup", "backup: false"),
    "load-placeholder-gate": (bad_placeholder_gate, "market_data.prices", "loads[0].placeholders",
                              "checks no placeholder values"),
    "training-expectations": (bad_training, "training.zl_training_*", "expectations.training.zl_training_*",
                              "no regime (min_distinct on a regime column), no weight"),
    "archive-keep": (bad_keep_pattern, "legacy_modles", "archive.keep[0]", "matches none of archive.sources"),
    "archive-keep/delete": (bad_delete_migrated, "legacy_models", "archive.keep", "migrations[0] reads from"),
}


@pytest.mark.parametrize("case", sorted(FAILING))
def test_rule_fails(proj, case):
    rule = case.split("/")[0]
    edit, obj, field, words = FAILING[case]
    edit(proj)
    found, report = findings(proj, rule)
    assert [(f.object, f.file, f.field) for f in found][:1] == [(obj, SPEC, field)]
    assert words in found[0].message
    assert report.exit_code() == 3


# --------------------------------------------------------------------- ... and passes

def test_fixture_passes_every_rule(proj):
    found, report = findings(proj)
    assert found == [] and report.exit_code() == 0 and report.summary() == "clean"


def ok_truncate_in_comment_only(p):
    p.edit("sql/assign_regimes.sql", lambda s: "-- never WRITE_TRUNCATE or TRUNCATE TABLE here: MERGE only\n"
                                               "/* CREATE OR REPLACE TABLE is refused by lint */\n" + s)


def ok_location_same_as_default(p):
    p.replace("market_data: {description: Prices}", "market_data: {location: US-CENTRAL1, description: Prices}")


def ok_placeholder_gate_per_load(p):
    bad_placeholder_gate(p)
    p.replace("keys: [date, symbol], min_rows: 100}", "keys: [date, symbol], min_rows: 100, placeholders: {symbol: [TBD]}}")
    p.replace("keys: [date, station]}", "keys: [date, station], placeholders: {station: [TBD]}}")


def ok_training_on_table(p):
    bad_training(p)  # the pattern's expectations go; a declared table carries its own
    p.edit(SPEC, lambda s: s.replace("migrations:\n  - {source: \"legacy_models.training_data_*\", to: training, "
                                     "rename: {replace: [training_data_, zl_training_]}}\n", "migrations: []\n"))
    p.replace("  raw.news:\n", "  training.zl_training_1m:\n    columns: [{name: date, type: DATE}, "
                               "{name: regime, type: STRING}, {name: training_weight, type: INT64}]\n"
                               "    expect:\n      min_distinct: {regime: 7}\n"
                               "      ranges: {training_weight: {min: 50, max: 1000}}\n"
                               "      coverage: {column: date, from: 2000-01-01, to: 2025-12-31}\n  raw.news:\n")


def ok_delete_keeps_migrated(p):
    p.replace("keep: [legacy_models]", "keep: [legacy_models]\n  delete_sources: true")


def ok_backup_default(p):
    p.replace("rename: {replace: [training_data_, zl_training_]}}",
              "rename: {replace: [training_data_, zl_training_]}, backup: true}")


def ok_merge_key(p):
    p.replace("keys: [date, station]", "keys: [station, date]")


PASSING = {
    "dataset-location": ok_location_same_as_default,
    "merge-not-truncate": ok_truncate_in_comment_only,
    "merge-not-truncate/key": ok_merge_key,
    "migration-backup": ok_backup_default,
    "load-placeholder-gate": ok_placeholder_gate_per_load,
    "training-expectations": ok_training_on_table,
    "archive-keep": ok_delete_keeps_migrated,
}


@pytest.mark.parametrize("case", sorted(PASSING))
def test_rule_passes(proj, case):
    PASSING[case](proj)
    found, report = findings(proj)
    assert found == [], [f.message for f in found]
    assert report.exit_code() == 0


def test_every_rule_has_a_failing_and_a_passing_case():
    assert {c.split("/")[0] for c in FAILING} == set(RULE_NAMES)
    assert {c.split("/")[0] for c in PASSING} == set(RULE_NAMES)


# --------------------------------------------------------------------- waivers

def test_waiver_silences_one_object_with_its_reason(proj):
    bad_location(proj)
    proj.replace("  raw: {}\n", "  raw: {location: EU}\n")
    add_waiver(proj, "dataset-location", "market_data", "vendor feed is US-only until 2026")
    found, report = findings(proj)
    assert [f.object for f in found] == ["raw"]  # the other object is still reported
    (w,) = report.waived
    assert (w.object, w.waived_because) == ("market_data", "vendor feed is US-only until 2026")
    assert report.exit_code() == 3


def test_waived_spec_exits_0(proj, monkeypatch, capsys):
    bad_location(proj)
    add_waiver(proj, "dataset-location", "market_data")
    monkeypatch.chdir(proj.root)
    assert cli.main(["lint", "--spec", SPEC]) == 0
    assert "waived (accepted for the test)" in capsys.readouterr().out


def test_waiver_of_unknown_rule_is_an_error_and_stale_waiver_a_warning(proj):
    add_waiver(proj, "dataset-locaton", "market_data")
    proj.edit(SPEC, lambda s: s + "  - {rule: migration-backup, object: nothing.here, reason: old}\n")
    found, report = findings(proj)
    assert [(f.rule, f.field) for f in found] == [("waiver", "waivers[0].rule")]
    assert "unknown rule 'dataset-locaton'" in found[0].message
    assert report.warnings == (f"{SPEC}: waivers[1]: waiver of migration-backup for nothing.here waives "
                               f"nothing: remove it",)


def test_waiver_needs_a_reason(proj, monkeypatch, capsys):
    proj.edit(SPEC, lambda s: s + "waivers:\n  - {rule: dataset-location, object: market_data, reason: ' '}\n")
    monkeypatch.chdir(proj.root)
    assert cli.main(["lint", "--spec", SPEC]) == 1
    assert "waivers[0].reason: must not be empty" in capsys.readouterr().err


def test_violation_in_an_included_file_names_that_file(proj):
    proj.replace("version: 1\n", "version: 1\ninclude: [extra.yaml]\n")
    (proj.root / "desired_state" / "extra.yaml").write_text("datasets:\n  signals: {location: EU}\n")
    found, _ = findings(proj)
    assert [(f.file, f.field) for f in found] == [("desired_state/extra.yaml", "datasets.signals.location")]


def test_cli_json(proj, monkeypatch, capsys):
    bad_backup(proj)
    monkeypatch.chdir(proj.root)
    assert cli.main(["lint", "--spec", SPEC, "--format", "json"]) == 3
    doc = json.loads(capsys.readouterr().out)
    assert [v["rule"] for v in doc["violations"]] == ["migration-backup"]


# --------------------------------------------------------------------- SQL read from the tree

DESTRUCTIVE_SQL = {
    # statement written across lines, comments inside: the same statement to the parser
    "delete-without-where": ("-- clean up\nDELETE FROM training.zl_training_1m", "line 2: DELETE: DELETE FROM "
                             "training.zl_training_1m without a WHERE deletes every row"),
    "drop-table-across-lines": ("UPDATE training.zl_training_1m SET regime = 'x' WHERE FALSE;\nDROP\n"
                                "  -- not needed any more\n  TABLE /* gone */\n  training.zl_training_1m;\n",
                                "line 2: DROP TABLE: DROP TABLE training.zl_training_1m"),
    "create-or-replace-across-lines": ("CREATE\n  OR /* fresh */ REPLACE\n  -- every night\n  TABLE "
                                       "training.zl_training_1m AS\nSELECT * FROM training.zl_training_1m",
                                       "line 1: CREATE OR REPLACE TABLE: CREATE OR REPLACE TABLE "
                                       "training.zl_training_1m replaces its data"),
    "truncate": ("TRUNCATE\n  TABLE training.zl_training_1m", "line 1: TRUNCATE TABLE"),
    "merge-delete-by-source": ("MERGE training.zl_training_1m T USING (SELECT * FROM training.zl_training_1m) S\n"
                               "ON T.date = S.date\nWHEN NOT MATCHED BY SOURCE THEN DELETE",
                               "line 1: MERGE: MERGE into training.zl_training_1m with WHEN NOT MATCHED BY SOURCE "
                               "THEN DELETE deletes every row its source lacks"),
}


@pytest.mark.parametrize("case", sorted(DESTRUCTIVE_SQL))
def test_destructive_sql_is_found_on_the_syntax_tree(proj, case):
    text, words = DESTRUCTIVE_SQL[case]
    proj.edit("sql/assign_regimes.sql", lambda s: text)
    found, report = findings(proj, "merge-not-truncate")
    assert [(f.object, f.field) for f in found] == [("assign_regimes", "transforms.assign_regimes.sql")]
    assert f"sql/assign_regimes.sql {words}" in found[0].message, found[0].message
    assert report.exit_code() == 3


@pytest.mark.parametrize("text", [
    "DELETE FROM training.zl_training_1m WHERE regime = 'allhistory'",
    "MERGE training.zl_training_1m T USING (SELECT * FROM training.zl_training_1m) S ON T.date = S.date\n"
    "WHEN NOT MATCHED BY SOURCE AND T.date > '2020-01-01' THEN DELETE",
    "SELECT 'DROP TABLE x' AS s FROM training.zl_training_1m;\n"
    "UPDATE training.zl_training_1m SET regime = 'x' WHERE FALSE -- TRUNCATE TABLE",
])
def test_bounded_deletes_and_text_in_strings_pass(proj, text):
    proj.edit("sql/assign_regimes.sql", lambda s: text)
    found, _ = findings(proj, "merge-not-truncate")
    assert found == [], [f.message for f in found]
