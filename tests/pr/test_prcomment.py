"""`reconcile pr-comment`: one Markdown comment, attention first, always under the limit."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from pr_helpers import SPEC, check_golden

from reconcile.cli import main as cli
from reconcile.review import prcomment
from reconcile.plan.actions import (
    Action, CreateTable, FlagRecreate, FlagSchemaConflict, MergeLoad, MigrateTable, MissingSource, Plan,
    Unmanaged, Validate,
)
from reconcile.review.lint import Finding, LintReport
from reconcile.review.prcomment import (
    LIMIT, MARKER, CommentInput, PlanInput, build_comment, exit_code, gather, without_missing_staging,
)
from reconcile.review.specdiff import Change, SpecDiff, Stake

TAKEN = "2025-11-19T12:00:00+00:00"  # the fixture snapshot's taken_at
NOW = dt.datetime(2025, 11, 19, 15, 0, tzinfo=dt.timezone.utc)


def relocate_and_drop(repo):
    """The issue's "Done when": one dataset's location changed, one table dropped."""
    repo.replace("market_data: {description: Prices}", "market_data: {location: US, description: Prices}")
    repo.edit(SPEC, lambda s: s.replace(
        "  raw.weather:\n    columns:\n      - {name: date, type: DATE, mode: REQUIRED}\n"
        "      - {name: station, type: STRING, mode: REQUIRED}\n      - {name: temp_max, type: FLOAT64}\n", "")
        .replace("  - {source: staging/weather.parquet, table: raw.weather, keys: [date, station]}\n", ""))


def attention_rows(text: str) -> list[str]:
    section = text.split("### ⚠️ Needs attention", 1)[1].split("\n### ", 1)[0]
    return [line for line in section.splitlines() if line.startswith("| ") and "---" not in line][1:]


# --------------------------------------------------------------------- a PR, end to end (offline)

def test_relocation_and_drop_come_first_with_rows_at_stake(repo):
    relocate_and_drop(repo)
    c = gather(str(repo.spec), "main", str(repo.root.parent / "snapshot.json"),
               command="reconcile pr-comment --base main --snapshot snapshot.json")
    text = build_comment(c, now=NOW)
    check_golden("prcomment_relocate_and_drop.md", text.replace(str(repo.root.parent), "<tmp>"))

    assert text.startswith(MARKER + "\n")
    summary = text.splitlines()[3]
    assert "1 blocked: market_data is in us-central1, must be in US" in summary
    assert "Spec: 3 changes (2 removed, 1 modified), 2 destructive" in summary
    assert "**3.0 h old**" in text
    rows = attention_rows(text)
    assert rows[0].startswith("| ✗ **new** | `market_data` |") and rows[0].endswith("| 2 | 150 |")
    assert rows[1].startswith("| ! **new** | `raw.weather` |") and rows[1].endswith("| 1 | 40 |")
    assert "location us-central1 -> US" in rows[0] and "lint dataset-location" in rows[0]
    assert text.index("Needs attention") < text.index("### Plan") < text.index("### Spec diff")
    assert exit_code(c) == 3


def test_unchanged_pr_says_so(repo):
    c = gather(str(repo.spec), "main", str(repo.root.parent / "snapshot.json"))
    text = build_comment(c, now=NOW)
    assert "**Spec: no change to the desired state**" in text and "**Lint: clean**" in text
    assert "Needs attention" not in text
    # No staging folder in the checkout: loads are left out and the comment says so.
    assert "2 load(s) are not planned here" in text
    assert exit_code(c) == 0


def test_cli_writes_the_comment(repo, monkeypatch, capsys):
    relocate_and_drop(repo)
    monkeypatch.chdir(repo.root)
    out = repo.root.parent / "comment.md"
    code = cli.main(["pr-comment", "--base", "main", "--spec", SPEC,
                     "--snapshot", str(repo.root.parent / "snapshot.json"), "--out", str(out)])
    assert code == 3
    assert out.read_text().startswith(MARKER)
    assert "1 blocked: market_data" in capsys.readouterr().err


def test_snapshot_of_another_project_is_refused(repo, monkeypatch, capsys):
    snap = repo.root.parent / "snapshot.json"
    snap.write_text(snap.read_text().replace('"demo-project"', '"other-project"'))
    monkeypatch.chdir(repo.root)
    assert cli.main(["pr-comment", "--base", "main", "--spec", SPEC, "--snapshot", str(snap)]) == 1
    assert "snapshot is of 'other-project'" in capsys.readouterr().err


def test_without_a_snapshot_the_plan_is_left_out(repo):
    relocate_and_drop(repo)
    text = build_comment(gather(str(repo.spec), "main", None), now=NOW)
    assert "**Plan: not computed (no snapshot)**" in text and "### Plan" not in text
    assert "| ! **new** | `market_data` |" in text  # spec and lint still flag it


def test_missing_staging_filter_lifts_its_blocks():
    missing = MissingSource(table="raw.weather", source="staging/weather.parquet")
    v = Validate(table="raw.weather", checks=("min_rows",), blocked_by=(missing.key, "other"))
    p, n = without_missing_staging(Plan("p", (missing, v)))
    assert n == 1 and [a.kind for a in p.actions] == ["Validate"]
    assert p.actions[0].blocked_by == ("other",)


# --------------------------------------------------------------------- a 1,000-action plan

def big_plan(name_len: int = 0) -> Plan:
    pad = "x" * name_len
    actions: list[Action] = []
    for i in range(600):
        actions.append(CreateTable(table=f"ds_{i % 20}.table_{i:04d}{pad}",
                                   columns=(("date", "DATE", "REQUIRED"), ("v", "FLOAT64", "NULLABLE"))))
    for i in range(200):
        actions.append(MergeLoad(table=f"ds_{i % 20}.table_{i:04d}{pad}", source=f"staging/f_{i}.parquet",
                                 content_hash="sha256:" + "ab" * 32, rows=1_000 + i, keys=("date",)))
    for i in range(50):
        actions.append(MigrateTable(source=f"legacy.t_{i}{pad}", destination=f"ds_1.fwd_t_{i}{pad}",
                                    rows=500, replace_rows=400 + i,
                                    blocked_by=("destructive: needs --allow-destructive",)))
    for i in range(10):
        actions.append(FlagRecreate(name=f"region_{i}", actual_location="US", desired_location="us-central1",
                                    tables=5, rows=1_000_000 * (i + 1)))
    for i in range(40):
        actions.append(FlagSchemaConflict(table=f"ds_2.conflict_{i}{pad}", changes=("column a: type INT64 -> STRING",),
                                          rows=10 * i))
    for i in range(100):
        actions.append(Unmanaged(object=f"ds_3.old_{i}{pad}", object_type="table", rows=i))
    assert len(actions) == 1_000
    return Plan("demo-project", tuple(actions), snapshot_taken_at=TAKEN)


def big_input(name_len: int = 0, changes: int = 300, violations: int = 80) -> CommentInput:
    pad = "y" * name_len
    diff_changes = [Change("tables", f"ds_{i % 20}.table_{i:04d}{pad}", "removed", ("had 2 columns",),
                           ("table dropped from the spec",) if i % 10 == 0 else (),
                           SPEC, f"tables.ds_{i % 20}.table_{i:04d}", (Stake("table", f"ds_{i % 20}.table_{i:04d}"),))
                    for i in range(changes)]
    lint = LintReport(SPEC, tuple(Finding("dataset-location", f"region_{i}{pad}", SPEC,
                                          f"datasets.region_{i}.location", "declared in US")
                                  for i in range(violations)))
    p = big_plan(name_len)
    return CommentInput("demo-project", SPEC, "main", SpecDiff(SPEC, "main", tuple(diff_changes)), lint,
                        PlanInput(p, "snapshot.json", TAKEN), None, "reconcile pr-comment --base main")


def test_1000_action_plan_golden_bounded_and_destructive_first():
    text = build_comment(big_input(), now=NOW)
    check_golden("prcomment_1000_actions.md", text)
    assert len(text.encode("utf-8")) < LIMIT
    # Summary, then attention (spec destructive first: they are new, then blocked by rows at stake)
    assert text.index("Needs attention") < text.index("### Plan") < text.index("### Spec diff") < text.index("### Lint")
    rows = attention_rows(text)
    assert rows[0].startswith("| ✗ **new** | `region_") or rows[0].startswith("| ! **new** |")
    not_new = [r for r in rows if "**new**" not in r]
    if not_new:
        rows_at_stake = [int(r.rsplit("|", 2)[-2].strip().replace(",", "")) for r in not_new]
        assert rows_at_stake == sorted(rows_at_stake, reverse=True)
    # Caps with counts, never a wall of text; every kind is counted in the summary table.
    assert re.search(r"… and [\d,]+ more needing attention", text)
    assert re.search(r"… and [\d,]+ more CreateTable", text)
    for kind, n in (("CreateTable", 600), ("MergeLoad", 200), ("MigrateTable", 50), ("FlagRecreate", 10),
                    ("FlagSchemaConflict", 40), ("Unmanaged", 100)):
        assert f"| {kind} | {n:,} |" in text
    assert "100 blocked: region_9 is in US, must be in us-central1 (and 99 more)" in text.splitlines()[3]


@pytest.mark.parametrize("name_len,changes,violations", [(0, 5_000, 2_000), (250, 300, 80), (250, 20_000, 5_000)])
def test_comment_always_fits(name_len, changes, violations):
    text = build_comment(big_input(name_len, changes, violations), now=NOW)
    assert len(text.encode("utf-8")) < LIMIT
    assert text.startswith(MARKER) and "**Plan:" in text.splitlines()[3]
    assert text.count("<details") == text.count("</details>")


def test_last_resort_cut_keeps_the_comment_well_formed(monkeypatch):
    # Even if every cap level is too long, the comment is cut at a line, closed and marked.
    monkeypatch.setattr(prcomment, "BUDGET", 3_000)
    text = build_comment(big_input(), now=NOW)
    assert len(text.encode("utf-8")) <= 3_000
    assert text.startswith(MARKER) and "_Truncated to stay under GitHub's comment limit" in text
    assert text.count("<details") == text.count("</details>")
