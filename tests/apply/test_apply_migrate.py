"""Apply: backups, migrations with verified counts, the archive, against the local BigQuery.

The legacy tables are the demo's real legacy warehouse (`reconcile.demo.data.legacy_tables`),
loaded under this test's dataset prefix: a legacy dataset in US (copied across regions),
one in us-central1 (backed up as a table snapshot), and a backup dataset to consolidate.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from test_never_lose_a_row import migration_spec
from apply_helpers import apply_plan, assert_converged, checksum, load_table, make_plan, statuses, write_spec
from reconcile.plan.actions import MigrateTable, Plan
from reconcile.bq.adapter import Adapter
from reconcile.demo.data import legacy_tables
from reconcile.bq.adapter import param
from reconcile.plan.names import NEEDS_ALLOW, backup_name

pytestmark = pytest.mark.integration


def seed_legacy(adapter: Adapter, p: str, tmp: Path) -> None:
    t = legacy_tables()
    adapter.create_dataset(f"{p}legacy", "US")
    adapter.create_dataset(f"{p}legacy_c1", "us-central1")
    adapter.create_dataset(f"{p}bk_20251027", "US")
    load_table(adapter, f"{p}legacy.crude_oil_prices", t["forecasting_data_warehouse.crude_oil_prices"], tmp, "US")
    load_table(adapter, f"{p}legacy.vix_daily", t["forecasting_data_warehouse.vix_daily"], tmp, "US")
    load_table(adapter, f"{p}legacy_c1.production_training_data_1m",
               t["models_v4.production_training_data_1m"], tmp, "us-central1")
    load_table(adapter, f"{p}bk_20251027.crude_oil_prices",
               t["forecasting_data_warehouse_backup_20251027.crude_oil_prices"], tmp, "US")


def spec_text(p: str) -> str:
    return f"""\
        version: 1
        project: cbi-v14
        default_location: us-central1
        ops_dataset: {p}ops
        datasets:
          {p}market: {{}}
          {p}training: {{}}
          {p}ops: {{}}
          {p}arch: {{}}
        migrations:
          - {{source: "{p}legacy.*", to: {p}market, rename: {{prefix: fwd_}}}}
          - source: "{p}legacy_c1.production_training_data_*"
            to: {p}training
            rename: {{replace: [production_training_data_, zl_training_prod_allhistory_]}}
        archive:
          dataset: {p}arch
          sources: ["{p}bk_*", "{p}legacy"]
          keep: ["{p}legacy"]
          delete_sources: true
        """


def test_backup_migrate_archive_converges_with_rows_intact(adapter: Adapter, ds_prefix: str,
                                                            project_root: Path, tmp_path: Path) -> None:
    p = ds_prefix
    seed_legacy(adapter, p, tmp_path)
    sums = {ref: checksum(adapter, ref) for ref in (
        f"{p}legacy.crude_oil_prices", f"{p}legacy.vix_daily", f"{p}legacy_c1.production_training_data_1m",
        f"{p}bk_20251027.crude_oil_prices")}
    desired = write_spec(project_root, spec_text(p))
    # The spec's delete_sources: true and an allow naming the deletion (issue 13).
    plan, _ = make_plan(adapter, desired, allow_destructive=[f"delete:{p}bk_20251027"])
    assert [a.kind for a in plan.changes] == ["CreateDataset"] * 4 + ["BackupTable"] * 3 + \
        ["MigrateTable"] * 3 + ["ArchiveDataset"] * 2
    result = apply_plan(adapter, desired, plan)
    assert result.ok, [(o.key, o.detail) for o in result.outcomes if o.status != "done"]
    out = result.by_key()

    # Backups first: a copy job across regions, a table snapshot within one; both verified.
    bk_us = f"{p}arch.{backup_name(p + 'legacy', 'crude_oil_prices')}"
    bk_c1 = f"{p}arch.{backup_name(p + 'legacy_c1', 'production_training_data_1m')}"
    assert out[f"BackupTable:{p}legacy.crude_oil_prices"].observed == {"rows": 8321, "method": "copy job"}
    assert out[f"BackupTable:{p}legacy_c1.production_training_data_1m"].observed["method"] == "table snapshot"
    assert checksum(adapter, bk_us) == sums[f"{p}legacy.crude_oil_prices"]
    assert checksum(adapter, bk_c1) == sums[f"{p}legacy_c1.production_training_data_1m"]

    # Migrated copies hold exactly the source rows; the ledger says so.
    assert checksum(adapter, f"{p}market.fwd_crude_oil_prices") == sums[f"{p}legacy.crude_oil_prices"]
    assert checksum(adapter, f"{p}market.fwd_vix_daily") == sums[f"{p}legacy.vix_daily"]
    assert checksum(adapter, f"{p}training.zl_training_prod_allhistory_1m") == \
        sums[f"{p}legacy_c1.production_training_data_1m"]
    ledger = adapter.query(f"SELECT table_ref, source, content_hash, `rows` FROM {adapter.q(p + 'ops.load_ledger')}"
                           " ORDER BY table_ref")
    assert {(r["source"], r["content_hash"], r["rows"]) for r in ledger} == {
        (f"bq:{p}legacy.crude_oil_prices", "rows:8321", 8321), (f"bq:{p}legacy.vix_daily", "rows:1259", 1259),
        (f"bq:{p}legacy_c1.production_training_data_1m", "rows:2239", 2239)}

    # Archive: the backup dataset copied then deleted; the legacy dataset copied and kept.
    datasets = dict(adapter.list_datasets())
    assert f"{p}bk_20251027" not in datasets and f"{p}legacy" in datasets
    assert checksum(adapter, f"{p}arch.{p}bk_20251027__crude_oil_prices") == sums[f"{p}bk_20251027.crude_oil_prices"]
    assert checksum(adapter, f"{p}arch.{p}legacy__crude_oil_prices") == sums[f"{p}legacy.crude_oil_prices"]
    assert out[f"ArchiveDataset:{p}legacy"].observed["deleted_source"] is False
    assert_converged(adapter, desired)

    # The source loses rows later (a legacy cleanup): replacing the copy is destructive,
    # so it waits for --allow-destructive; then the old copy is backed up, replaced, verified.
    adapter.execute(f"DELETE FROM {adapter.q(p + 'legacy_c1.production_training_data_1m')} "
                    "WHERE date < '2011-01-01'")
    left = adapter.count_rows(f"{p}legacy_c1.production_training_data_1m")
    assert 0 < left < 2239
    plan, _ = make_plan(adapter, desired)
    mig = next(a for a in plan.actions if isinstance(a, MigrateTable))
    assert mig.replace_rows == 2239 and plan.exit_code() == 3
    assert mig.blocked_by == (f"{NEEDS_ALLOW} replace:{p}training.zl_training_prod_allhistory_1m",)
    r = apply_plan(adapter, desired, plan)
    assert statuses(r)[mig.key] == "blocked"
    assert adapter.count_rows(f"{p}training.zl_training_prod_allhistory_1m") == 2239

    plan, _ = make_plan(adapter, desired, allow_destructive=True)
    r = apply_plan(adapter, desired, plan)
    assert r.ok and statuses(r)[mig.key] == "done", [(o.key, o.detail) for o in r.outcomes]
    assert r.by_key()[mig.key].observed == {"rows": left, "replaced_rows": 2239}
    assert checksum(adapter, f"{p}training.zl_training_prod_allhistory_1m") == \
        checksum(adapter, f"{p}legacy_c1.production_training_data_1m")
    old_copy = f"{p}arch.{backup_name(p + 'training', 'zl_training_prod_allhistory_1m', '__2239rows')}"
    assert checksum(adapter, old_copy) == sums[f"{p}legacy_c1.production_training_data_1m"]
    assert_converged(adapter, desired, allow_destructive=True)


def test_migration_refuses_an_unexpected_destination(adapter: Adapter, ds_prefix: str,
                                                      project_root: Path, tmp_path: Path) -> None:
    p = ds_prefix
    seed_legacy(adapter, p, tmp_path)
    desired = write_spec(project_root, spec_text(p))
    adapter.create_dataset(f"{p}market", "us-central1")
    # Something else wrote the destination after the plan was made: never overwritten.
    t = legacy_tables()["forecasting_data_warehouse.vix_daily"]
    load_table(adapter, f"{p}market.fwd_crude_oil_prices", t, tmp_path, "us-central1")
    before_src = checksum(adapter, f"{p}legacy.crude_oil_prices")
    before_dst = checksum(adapter, f"{p}market.fwd_crude_oil_prices")
    plan = Plan(project=desired.project, actions=(
        MigrateTable(source=f"{p}legacy.crude_oil_prices", destination=f"{p}market.fwd_crude_oil_prices",
                     rows=8321),))
    r = apply_plan(adapter, desired, plan)
    o = r.outcomes[0]
    assert o.status == "failed" and "exists with 1,259 rows" in o.detail
    assert o.observed == {"destination_rows": 1259, "source_rows": 8321}
    assert checksum(adapter, f"{p}legacy.crude_oil_prices") == before_src
    assert checksum(adapter, f"{p}market.fwd_crude_oil_prices") == before_dst


def test_a_backed_up_migrated_and_archived_legacy_table_crosses_regions_once(
        strict, ds_prefix: str, project_root: Path, tmp_path: Path) -> None:
    """Issue 12, R8 (https://cloud.google.com/bigquery/quotas#copy_jobs), through the strict
    harness, which counts cross-region copy jobs: legacy tables in US, backed up into the
    archive dataset, migrated into a dataset, and archived (kept), all in us-central1. Each
    table crosses regions once (its backup); the migration and the archive copy the proven
    backup in-region (before: three cross-region copy jobs per table). Rows and checksums are
    the source's; the plan counts the same."""
    from reconcile.bq.adapter import local_client
    sad = Adapter(local_client("cbi-v14", strict.endpoint), "cbi-v14", emulator=True, retry_delay=0.05)
    p = ds_prefix
    t = legacy_tables()
    sad.create_dataset(f"{p}legacy", "US")
    load_table(sad, f"{p}legacy.crude_oil_prices", t["forecasting_data_warehouse.crude_oil_prices"], tmp_path, "US")
    load_table(sad, f"{p}legacy.vix_daily", t["forecasting_data_warehouse.vix_daily"], tmp_path, "US")
    sums = {n: checksum(sad, f"{p}legacy.{n}") for n in ("crude_oil_prices", "vix_daily")}
    desired = write_spec(project_root, migration_spec(p))
    plan, _ = make_plan(sad, desired)
    assert sorted(a.kind for a in plan.changes if a.kind != "CreateDataset") == \
        ["ArchiveDataset"] + ["BackupTable"] * 2 + ["MigrateTable"] * 2
    assert [n for n in plan.notes if n.startswith("cross-region copies:")] == [
        "cross-region copies: 2 copy job(s) across regions (BigQuery allows 2,000 per project and 100 per "
        "destination table per day)"]
    strict.reset()
    result = apply_plan(sad, desired, plan)
    assert result.ok, [(o.key, o.detail) for o in result.outcomes if o.status != "done"]
    backups = {n: f"{p}arch.{backup_name(p + 'legacy', n)}" for n in sums}
    # One cross-region copy job per table: into its backup; none into the migrated or archived tables.
    assert strict.strict.copies == {"project": 2, **{bk: 1 for bk in backups.values()}}
    assert strict.strict.refused == []
    for n, bk in backups.items():
        mig = result.by_key()[f"MigrateTable:{p}market.fwd_{n}"]
        assert mig.observed["copied_from"] == bk and mig.observed["rows"] == sums[n][0]
        assert checksum(sad, f"{p}market.fwd_{n}") == sums[n] == checksum(sad, bk)
        assert sad.client.get_table(f"cbi-v14.{p}market.fwd_{n}").table_type == "TABLE"
        assert checksum(sad, f"{p}arch.{p}legacy__{n}") == sums[n]
    assert sorted(result.by_key()[f"ArchiveDataset:{p}legacy"].observed["copied"]) == \
        sorted(f"{p}arch.{p}legacy__{n}" for n in sums)
    assert_converged(sad, desired)


# ---------------------------------------------------------------- adoption (issue 13)


def _hand_copy(adapter: Adapter, p: str, tmp: Path, *, other_rows: bool) -> str:
    """market.fwd_vix_daily made by hand before the tool ran: the source's rows, or as many
    rows of another real table (the crude prices, cut to the same count)."""
    t = legacy_tables()
    adapter.create_dataset(f"{p}market", "us-central1")
    rows = t["forecasting_data_warehouse.vix_daily"]
    if other_rows:
        other = t["forecasting_data_warehouse.crude_oil_prices"].slice(0, rows.num_rows)
        rows = other.rename_columns(rows.column_names).cast(rows.schema)
    dest = f"{p}market.fwd_vix_daily"
    load_table(adapter, dest, rows, tmp, "us-central1")
    return dest


def test_a_hand_copy_with_the_source_rows_is_adopted_with_its_backup_and_record(
        adapter: Adapter, ds_prefix: str, project_root: Path, tmp_path: Path) -> None:
    p = ds_prefix
    seed_legacy(adapter, p, tmp_path)
    dest = _hand_copy(adapter, p, tmp_path, other_rows=False)
    desired = write_spec(project_root, spec_text(p))
    plan, _ = make_plan(adapter, desired, allow_destructive=[f"delete:{p}bk_20251027"])
    keys = {a.key for a in plan.changes}
    # Before: a same-count table was taken as the copy, with no record and no backup.
    assert f"MigrateTable:{dest}" in keys and f"BackupTable:{p}legacy.vix_daily" in keys
    result = apply_plan(adapter, desired, plan)
    assert result.ok, [(o.key, o.detail) for o in result.outcomes if o.status != "done"]
    out = result.by_key()[f"MigrateTable:{dest}"]
    assert out.observed.get("adopted") is True and "adopted and recorded" in out.detail
    assert checksum(adapter, f"{p}arch.{backup_name(p + 'legacy', 'vix_daily')}") == \
        checksum(adapter, f"{p}legacy.vix_daily")
    # A later change to the adopted table (as the spec's transforms make) is not drift.
    adapter.execute(f"INSERT INTO {adapter.q(dest)} (date, close) VALUES (DATE '2030-01-02', 12.5)")
    again, _ = make_plan(adapter, desired, allow_destructive=[f"delete:{p}bk_20251027"])
    assert not [a for a in again.actions if a.target == dest], [a.key for a in again.actions if a.target == dest]


def test_a_same_count_table_with_other_rows_is_never_adopted_nor_touched(
        adapter: Adapter, ds_prefix: str, project_root: Path, tmp_path: Path) -> None:
    p = ds_prefix
    seed_legacy(adapter, p, tmp_path)
    dest = _hand_copy(adapter, p, tmp_path, other_rows=True)
    before = checksum(adapter, dest)
    assert before[0] == checksum(adapter, f"{p}legacy.vix_daily")[0]
    desired = write_spec(project_root, spec_text(p))
    plan, _ = make_plan(adapter, desired)
    result = apply_plan(adapter, desired, plan)
    out = result.by_key()[f"MigrateTable:{dest}"]
    assert out.status == "failed" and "is not its copy" in out.detail and "not adopted" in out.detail
    assert checksum(adapter, dest) == before
    ledger = adapter.query(f"SELECT COUNT(*) AS n FROM {adapter.q(p + 'ops.load_ledger')} WHERE table_ref = @t",
                           [param("t", dest)])
    assert ledger == [{"n": 0}]
