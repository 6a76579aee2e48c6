"""Golden planner scenarios: spec + snapshot JSON (+ sources, options) -> plan JSON and Markdown.

Each folder under tests/scenarios is one case. No BigQuery: the planner is pure.
Set UPDATE_GOLDEN=1 to rewrite expected files after an intended change, then
review the diff.
"""

import json
import os
from pathlib import Path

import pytest

from reconcile.plan.actions import ACTIONS
from reconcile.plan.planner import plan
from reconcile.render.plan import render_json, render_markdown
from reconcile.snapshot.model import Snapshot
from reconcile.spec.sources import SourceFile, SourceManifest
from reconcile.spec.load import load_spec

ROOT = Path(__file__).resolve().parents[1] / "scenarios"
BASE = ROOT / "base"
CASES = sorted(p.name for p in ROOT.iterdir() if p.is_dir() and (p / "snapshot.json").exists())
UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"


def _sources(case: Path) -> SourceManifest:
    f = case / "sources.json"
    if not f.exists():
        f = BASE / "sources.json"
    return SourceManifest(tuple(SourceFile(**{**d, "columns": tuple(tuple(c) for c in d["columns"]),
                                               "problems": tuple(d["problems"])})
                                for d in json.loads(f.read_text())))


def run_case(name: str):
    case = ROOT / name
    spec_dir = case if (case / "spec.yaml").exists() else BASE
    desired = load_spec(spec_dir / "spec.yaml", root=spec_dir)
    snap = Snapshot.load(case / "snapshot.json")
    opts = json.loads((case / "options.json").read_text()) if (case / "options.json").exists() else {}
    return plan(desired, snap, _sources(case), approvals=opts.get("approvals", ()),
                allow_destructive=opts.get("allow_destructive", False))


@pytest.mark.parametrize("name", CASES)
def test_scenario_golden(name):
    p = run_case(name)
    got_json, got_md = render_json(p), render_markdown(p)
    exp_json, exp_md = ROOT / name / "expected.json", ROOT / name / "expected.md"
    if UPDATE or not exp_json.exists():
        exp_json.write_text(got_json)
        exp_md.write_text(got_md)
    assert got_json == exp_json.read_text()
    assert got_md == exp_md.read_text()


def test_every_action_kind_is_covered_by_some_scenario():
    seen = set()
    for name in CASES:
        seen.update(a.kind for a in run_case(name).actions)
    assert seen == {a.__name__ for a in ACTIONS}


def test_in_sync_plans_nothing():
    p = run_case("in_sync")
    assert p.actions == ()
    assert p.exit_code() == 0


def test_planner_is_deterministic():
    assert render_json(run_case("empty_project")) == render_json(run_case("empty_project"))


def kinds(name):
    return [a.kind for a in run_case(name).actions]


def test_wrong_region_flags_and_blocks_dependents():
    p = run_case("wrong_region")
    flag = next(a for a in p.actions if a.kind == "FlagRecreate")
    assert (flag.actual_location, flag.desired_location) == ("US", "us-central1")
    create = next(a for a in p.actions if a.kind == "CreateTable")
    assert create.blocked_by == (flag.key,)
    assert p.exit_code() == 3
    assert "RelocateDataset" not in kinds("wrong_region")


def test_approved_relocation_is_planned_and_destructive():
    p = run_case("wrong_region_approved")
    reloc = next(a for a in p.actions if a.kind == "RelocateDataset")
    assert reloc.destructive and reloc.stakes.rows == 0 + 0
    assert "FlagRecreate" not in kinds("wrong_region_approved")
    assert all(not a.blocked_by for a in p.actions)


def test_schema_drift_compatible_vs_conflict():
    p = run_case("schema_drift")
    add = next(a for a in p.actions if a.kind == "AddColumns")
    assert add.table == "market_data.prices" and add.columns == (("close", "FLOAT64", "NULLABLE"),)
    conflict = next(a for a in p.actions if a.kind == "FlagSchemaConflict")
    assert conflict.table == "raw.weather"
    assert any("STRING -> FLOAT64" in c for c in conflict.changes)
    assert any("humidity" in c for c in conflict.changes)
    load = next(a for a in p.actions if a.kind == "MergeLoad" and a.table == "raw.weather")
    assert load.blocked_by == (conflict.key,)


def test_loads_by_content_hash():
    p = run_case("loads")
    merge = [a for a in p.actions if a.kind == "MergeLoad"]
    assert [m.table for m in merge] == ["market_data.prices"]
    refuse = next(a for a in p.actions if a.kind == "RefuseLoad")
    assert "placeholder" in refuse.problems[0]
    assert "MissingSource" in kinds("missing_source")
    mismatch = next(a for a in run_case("load_schema_mismatch").actions if a.kind == "RefuseLoad")
    assert any("file has STRING, table has DATE" in x for x in mismatch.problems)
    assert any("volume" in x for x in mismatch.problems)


def test_migrations_backup_first_and_replace_needs_allow():
    p = run_case("migrations")
    ks = [(a.kind, a.target) for a in p.actions if a.kind in ("BackupTable", "MigrateTable")]
    assert ks.index(("BackupTable", "legacy_models.training_data_1m")) < ks.index(("MigrateTable", "training.zl_training_1m"))
    replace = next(a for a in p.actions if a.kind == "MigrateTable" and a.replace_rows is not None)
    assert replace.destructive and replace.replace_rows == 15 and replace.blocked_by
    allowed = next(a for a in run_case("migrations_allow_destructive").actions
                   if a.kind == "MigrateTable" and a.replace_rows is not None)
    assert not allowed.blocked_by


def test_archive_keeps_and_deletes_only_when_allowed():
    p = run_case("archive")
    arcs = {a.name: a for a in p.actions if a.kind == "ArchiveDataset"}
    assert set(arcs) == {"models_backup_oct27", "legacy_models"}
    assert not arcs["models_backup_oct27"].delete_source
    assert arcs["legacy_models"].keep and not arcs["legacy_models"].delete_source
    allowed = {a.name: a for a in run_case("archive_allow_destructive").actions if a.kind == "ArchiveDataset"}
    # The bare flag never deletes, and never overrides the spec's delete_sources: false.
    assert not allowed["models_backup_oct27"].delete_source
    assert not allowed["legacy_models"].delete_source  # keep wins over --allow-destructive


def test_failing_expectations_plan_their_fix_or_flag():
    p = run_case("expectations")
    tr = next(a for a in p.actions if a.kind == "RunTransform")
    assert "placeholders" in tr.reason
    failed = [a for a in p.actions if a.kind == "ExpectationFailed"]
    assert [(f.check, f.observed) for f in failed] == [("coverage(date)", "2010-01-04..2018-11-26")]
    validate = next(a for a in p.actions if a.kind == "Validate")
    assert validate.table == "training.zl_training_1m"


def test_unmanaged_listed_never_acted_on():
    p = run_case("unmanaged")
    um = {a.object for a in p.actions if a.kind == "Unmanaged"}
    assert um == {"scratch", "raw.weather_copy"}
    assert p.exit_code() == 0


def test_crashed_relocation_resumes_instead_of_creating():
    p = run_case("relocation_resume")
    assert "CreateDataset" not in [a.kind for a in p.actions]
    reloc = next(a for a in p.actions if a.kind == "RelocateDataset")
    assert reloc.resume_step == "delete_old" and reloc.rows == 150


def test_view_drift_replaces_view():
    view = next(a for a in run_case("view_drift").actions if a.kind == "CreateView")
    assert view.replace


def test_repeated_field_spellings_are_the_same_column():
    """INFORMATION_SCHEMA/DDL say ARRAY<STRING>; the API says STRING REPEATED (the
    snapshot reader uses the latter). Neither is a schema change."""
    case = ROOT / "in_sync"
    desired = load_spec(BASE / "spec.yaml", root=BASE)
    data = json.loads((case / "snapshot.json").read_text())
    for c in data["tables"]["raw.news"]["columns"]:
        if c["name"] == "topics":
            c.update(type="STRING", mode="REPEATED")
    p = plan(desired, Snapshot.model_validate(data), _sources(case))
    assert p.actions == ()


def test_repair_that_already_ran_on_same_inputs_is_not_replanned():
    """A gate still failing after its repair ran on unchanged inputs needs a human:
    no endless RunTransform, an ExpectationFailed that says so."""
    from reconcile.plan.names import transform_fingerprint

    desired = load_spec(BASE / "spec.yaml", root=BASE)
    data = json.loads((ROOT / "expectations" / "snapshot.json").read_text())
    fp = transform_fingerprint(["training.zl_training_1m"], {"training.zl_training_1m": 10})
    data["ledger"].append({"table": "training.zl_training_1m", "source": "transform:assign_regimes",
                           "content_hash": fp, "rows": 10, "loaded_at": "2025-11-19T12:00:00+00:00"})
    p = plan(desired, Snapshot.model_validate(data), _sources(ROOT / "expectations"))
    assert "RunTransform" not in [a.kind for a in p.actions]
    failed = {a.check: a.observed for a in p.actions if a.kind == "ExpectationFailed"}
    assert "placeholders(regime)" in failed
    assert "after assign_regimes ran on the same inputs" in failed["placeholders(regime)"]
    assert p.exit_code() == 3


def test_known_gaps_are_per_target_reported_and_not_blocking():
    from reconcile.spec.model import KnownGap, Target

    desired = load_spec(BASE / "spec.yaml", root=BASE)
    gap = KnownGap(object="raw.*", check="missing_source", reason="no offline copy")
    desired = desired.model_copy(update={"targets": {
        "local": Target(type="local", known_gaps=[gap]), "bigquery": Target(type="bigquery")}})
    case = ROOT / "missing_source"
    data = json.loads((case / "snapshot.json").read_text())
    local = plan(desired, Snapshot.model_validate(data | {"target": "local"}), _sources(case))
    missing = next(a for a in local.actions if a.kind == "MissingSource")
    assert missing.known_gap == "no offline copy" and not missing.is_blocked
    assert local.exit_code() == 0
    assert "known gap on this target: no offline copy" in render_markdown(local)
    cloud = plan(desired, Snapshot.model_validate(data | {"target": "bigquery"}), _sources(case))
    assert next(a for a in cloud.actions if a.kind == "MissingSource").known_gap is None
    assert cloud.exit_code() == 3
