"""The object graph and what the planner does with it (issue 11): no BigQuery.

The scenario folders (tests/scenarios/graph_*, relocate_*, ...) are golden plans; these
tests state what each one must show, so a golden rewritten by mistake still fails here.
"""

from __future__ import annotations

import json

import pytest
from test_scenarios import BASE, ROOT, _sources, run_case

from reconcile.plan import graph
from reconcile.plan.actions import (
    BackupTable, CreateDataset, CreateTable, CreateView, MigrateTable, RunTransform, Validate,
)
from reconcile.plan.dependencies import IO, graph_order, holds_up
from reconcile.plan.planner import plan
from reconcile.render.plan import render_json, render_markdown
from reconcile.snapshot.model import Snapshot
from reconcile.spec.load import load_spec


def by_key(p):
    return {a.key: a for a in p.actions}


# ---------------------------------------------------------------- the graph itself


def test_graph_has_an_edge_for_every_kind_of_read():
    desired = load_spec(ROOT / "graph_missing_inputs" / "spec.yaml", root=ROOT / "graph_missing_inputs")
    snap = Snapshot.load(ROOT / "graph_missing_inputs" / "snapshot.json")
    g = graph.build(desired, snap)
    vias = {e.via for e in g.edges}
    assert {"view", "transform", "ddl", "load", "migration", "backup", "archive", "ops"} <= vias
    assert set(g.reads("training.regime_distribution")) == {"training.zl_training_1m", "training.zl_training_3m"}
    # The transform's inputs come from its SQL (the spec declares none for repair_training).
    assert g.reads("transform:repair_training") == ["archive_2025.models_backup_oct27__training_data_1m_backup"]
    assert "transform:repair_training" in g.reads("training.zl_training_3m")
    assert g.reads("training.zl_training_6m") == ["legacy_models.training_data_6m"]
    assert "training.regime_distribution" in g.downstream("transform:repair_training")
    assert not g.exists_live("training.zl_training_3m")


def test_graph_relocation_edges_carry_every_object_of_a_wrong_region_dataset():
    desired = load_spec(BASE / "spec.yaml", root=BASE)
    snap = Snapshot.load(ROOT / "relocate_materialized_view" / "snapshot.json")
    g = graph.build(desired, snap)
    assert set(g.reads("dataset:market_data")) == {
        "market_data.prices", "market_data.latest_prices", "market_data.prices_mv"}
    assert g.nodes["market_data.prices_mv"].kind == "materialized view"


# ---------------------------------------------------------------- blocking


def test_inputs_that_will_not_exist_block_with_the_reason():
    p = run_case("graph_missing_inputs")
    a = by_key(p)
    view = a["CreateView:training.regime_distribution"]
    assert view.blocked_by == ("view training.regime_distribution reads training.zl_training_3m: "
                               "it does not exist and nothing in this plan creates it",)
    repair = a["RunTransform:repair_training"]
    assert any("reads archive_2025.models_backup_oct27__training_data_1m_backup: it does not exist"
               in r for r in repair.blocked_by)
    assert any("writes training.zl_training_3m: it does not exist" in r for r in repair.blocked_by)
    # `fixes` globs match outputs only: the repair does not write _6m.
    assert "_6m" not in repair.reason
    # The gate on _1m would run on a table its blocked repair writes (as the executor does).
    assert a["Validate:training.zl_training_1m"].blocked_by == ("RunTransform:repair_training",)
    assert repair.blocks == ("Validate:training.zl_training_1m", "Validate:training.zl_training_3m")
    # What does not depend on the blocked repair still runs.
    for key in ("MigrateTable:training.zl_training_6m", "Validate:training.zl_training_6m",
                "MigrateTable:training.zl_training_1m", "BackupTable:legacy_models.training_data_6m"):
        assert not a[key].blocked_by, key
    assert p.exit_code() == 3


def test_relocating_ops_is_blocked_and_so_is_every_change():
    p = run_case("relocate_ops")
    a = by_key(p)
    reloc = a["RelocateDataset:ops"]
    assert reloc.is_blocked and "ops dataset" in reloc.blocked_by[0]
    assert all(x.blocked_by for x in p.actions if not x.reports_only)
    assert not p.changes and p.exit_code() == 3
    assert set(reloc.blocks) == {"CreateTable:market_data.prices", "Validate:market_data.prices"}


def test_flagged_ops_blocks_every_change():
    p = run_case("ops_flagged")
    assert not p.changes and p.exit_code() == 3
    assert all(x.blocked_by == ("FlagRecreate:ops",) for x in p.actions if not x.reports_only)


def test_relocating_a_dataset_with_a_materialized_view_is_blocked():
    p = run_case("relocate_materialized_view")
    reloc = by_key(p)["RelocateDataset:market_data"]
    assert reloc.is_blocked
    assert "MATERIALIZED VIEW prices_mv" in reloc.blocked_by[0]
    assert not p.changes and p.exit_code() == 3


def test_a_migration_onto_a_view_is_blocked_and_backs_nothing_up():
    p = run_case("table_over_view")
    a = by_key(p)
    assert not [x for x in p.actions if isinstance(x, BackupTable)]  # no bogus __0rows backup
    mig = a["MigrateTable:training.zl_training_1m"]
    assert "exists as a VIEW" in mig.blocked_by[0]
    conflict = a["FlagSchemaConflict:raw.weather"]
    assert conflict.changes == ("exists as a VIEW, declared as a table",)
    assert a["MergeLoad:raw.weather<-staging/weather.parquet"].blocked_by == (conflict.key,)
    assert not p.changes and p.exit_code() == 3


def test_nothing_is_backed_up_into_a_flagged_archive():
    p = run_case("flagged_archive")
    a = by_key(p)
    backup = a["BackupTable:legacy_models.training_data_1m"]
    assert backup.blocked_by == ("FlagRecreate:archive_2025",)
    assert a["MigrateTable:training.zl_training_1m"].blocked_by == ("FlagRecreate:archive_2025",)
    assert not p.changes


def test_deleting_an_archived_dataset_that_holds_a_view_is_refused():
    # The scenario's spec says delete_sources: false: the bare flag never deletes (issue 13);
    # the refusal itself is tests/planner/test_allows_and_archive.py's snapshot case.
    arc = by_key(run_case("archive_delete_view"))["ArchiveDataset:models_backup_oct27"]
    assert not arc.delete_source


def test_reads_across_locations_block_on_bigquery_and_are_a_note_locally():
    cloud = run_case("cross_location_bigquery")
    view = by_key(cloud)["CreateView:market_data.legacy_training"]
    assert view.blocked_by == ("view market_data.legacy_training reads legacy_models.training_data_1m in US "
                               "and runs in us-central1 (market_data): BigQuery runs a query in one location",)
    assert cloud.exit_code() == 3
    local = run_case("cross_location_local")
    assert not by_key(local)["CreateView:market_data.legacy_training"].blocked_by
    assert local.exit_code() == 2
    assert any("the local emulator allows it" in n for n in local.notes)
    assert "### Notes" in render_markdown(local)


def test_table_names_bigquery_accepts_plan_without_a_traceback():
    p = run_case("table_name_unicode")
    a = by_key(p)
    assert "MigrateTable:training.zl_training_1m copy" in a
    assert "Unmanaged:raw.मौसम 2019" in a
    json.loads(render_json(p))  # renders


def test_legacy_objects_neither_migrated_nor_archived_are_listed():
    p = run_case("legacy_left_behind")
    um = {a.object: a.object_type for a in p.unmanaged}
    assert um == {"legacy_models.notes": "legacy table", "legacy_models.latest_training": "legacy view"}
    assert p.exit_code() == 0


# ---------------------------------------------------------------- ordering


def test_views_are_ordered_by_what_they_read():
    keys = [a.key for a in run_case("graph_order_views").actions]
    assert keys.index("CreateView:market_data.z_daily") < keys.index("CreateView:market_data.a_symbols")


def test_graph_order_keeps_the_phase_order_when_it_agrees():
    for name in ("empty_project", "migrations", "archive", "expectations", "wrong_region_approved"):
        p = run_case(name)
        from reconcile.plan.planner import order
        assert [a.key for a in p.actions] == [a.key for a in order(p.actions)], name


def test_graph_order_breaks_a_cycle_in_phase_order():
    a = CreateTable(table="x.a")
    b = CreateTable(table="x.b")
    ios = {a.key: IO(reads=("x.b",), creates=("x.a",)), b.key: IO(reads=("x.a",), creates=("x.b",))}
    assert [x.key for x in graph_order([a, b], ios)] == [a.key, b.key]


def test_creators_come_before_what_uses_them():
    ds = CreateDataset(name="x", location="us-central1")
    view = CreateView(view="x.v", sql_file="v.sql")
    table = CreateTable(table="x.t")
    ios = {ds.key: IO(creates_datasets=("x",)), view.key: IO(reads=("x.t",), creates=("x.v",), datasets=("x",)),
           table.key: IO(creates=("x.t",), datasets=("x",))}
    assert [k.key for k in graph_order([view, table, ds], ios)] == [ds.key, table.key, view.key]


def test_holds_up_is_transitive_and_in_plan_order():
    a = CreateTable(table="x.a", blocked_by=("because",))
    b = CreateView(view="x.b", sql_file="b.sql", blocked_by=(a.key,))
    c = Validate(table="x.c", checks=(), blocked_by=(b.key,))
    assert holds_up([a, b, c]) == {a.key: (b.key, c.key), b.key: (c.key,)}


# ---------------------------------------------------------------- the JSON


def test_plan_json_carries_inputs_and_blocks():
    doc = json.loads(render_json(run_case("graph_missing_inputs")))
    acts = {a["key"]: a for a in doc["actions"]}
    assert acts["CreateView:training.regime_distribution"]["inputs"] == [
        "training.zl_training_1m", "training.zl_training_3m"]
    assert acts["RunTransform:repair_training"]["blocks"] == [
        "Validate:training.zl_training_1m", "Validate:training.zl_training_3m"]
    assert acts["MigrateTable:training.zl_training_6m"]["inputs"] == ["legacy_models.training_data_6m"]


def test_the_graph_pass_is_deterministic():
    assert render_json(run_case("graph_missing_inputs")) == render_json(run_case("graph_missing_inputs"))


@pytest.mark.parametrize("name", ["relocate_ops", "relocate_materialized_view", "table_over_view"])
def test_executor_refusals_are_plan_time_blocks(name):
    """What the executor always refuses is blocked in the plan: nothing is left to run."""
    p = run_case(name)
    assert p.exit_code() == 3 and not p.changes


def test_transforms_created_outputs_are_not_missing():
    """A transform that creates its own output (CREATE TABLE IF NOT EXISTS, then MERGE)
    is not blocked because the output does not exist yet."""
    case = ROOT / "empty_project"
    desired = load_spec(BASE / "spec.yaml", root=BASE)
    from reconcile.spec.model import SqlInfo
    info = desired.sql_info["sql/assign_regimes.sql"]
    made = info.model_copy(update={"creates": ["training.zl_training_1m"]})
    desired = desired.model_copy(update={"sql_info": {**desired.sql_info, "sql/assign_regimes.sql": made}})
    p = plan(desired, Snapshot.load(case / "snapshot.json"), _sources(case))
    tr = next(a for a in p.actions if isinstance(a, RunTransform))
    assert not tr.blocked_by
    assert isinstance(made, SqlInfo)
    assert not [a for a in p.actions if isinstance(a, MigrateTable)]


def test_cli_plan_on_a_saved_snapshot_with_a_space_in_a_table_name(tmp_path, capsys, monkeypatch):
    """`reconcile plan --snapshot FILE` on names BigQuery accepts: a plan, not a traceback."""
    import shutil

    from reconcile.cli import main as cli

    (tmp_path / "pyproject.toml").write_text("")
    shutil.copytree(BASE / "sql", tmp_path / "sql")
    (tmp_path / "desired_state").mkdir()
    shutil.copyfile(BASE / "spec.yaml", tmp_path / "desired_state" / "spec.yaml")
    shutil.copyfile(ROOT / "table_name_unicode" / "snapshot.json", tmp_path / "snapshot.json")
    monkeypatch.setenv("BIGQUERY_EMULATOR_HOST", "127.0.0.1:9")  # nothing may be sent
    code = cli.main(["plan", "--spec", str(tmp_path / "desired_state" / "spec.yaml"),
                     "--snapshot", str(tmp_path / "snapshot.json"), "--format", "json"])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    doc = json.loads(out)
    assert code == doc["exit_code"] == 3  # the staging files are not in this folder: MissingSource
    assert "MigrateTable:training.zl_training_1m copy" in {a["key"] for a in doc["actions"]}
