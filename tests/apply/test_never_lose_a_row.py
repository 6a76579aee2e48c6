"""Issue 13 on the local BigQuery: never lose a row on a warehouse the tool did not build.

Each test is one case of the issue's "Why", built from the demo's real legacy rows
(`reconcile.demo.data.legacy_tables`) under this test's dataset prefix; each failed on
the main branch before the fix it names.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from apply_helpers import apply_plan, checksum, load_table, make_plan, statuses, write_spec
from reconcile.apply.session import Scope, Session
from reconcile.bq.adapter import Adapter
from reconcile.demo.data import legacy_tables
from reconcile.plan.actions import BackupTable, MigrateTable
from reconcile.plan.names import backup_name

pytestmark = pytest.mark.integration

VIX = "forecasting_data_warehouse.vix_daily"


def migration_spec(p: str) -> str:
    return f"""\
        version: 1
        project: cbi-v14
        default_location: us-central1
        ops_dataset: {p}ops
        datasets:
          {p}market: {{}}
          {p}ops: {{}}
          {p}arch: {{}}
        migrations:
          - {{source: "{p}legacy.*", to: {p}market, rename: {{prefix: fwd_}}}}
        archive:
          dataset: {p}arch
          sources: ["{p}legacy"]
          keep: ["{p}legacy"]
        """


def seed_vix(adapter: Adapter, p: str, tmp: Path) -> str:
    adapter.create_dataset(f"{p}legacy", "us-central1")
    src = f"{p}legacy.vix_daily"
    load_table(adapter, src, legacy_tables()[VIX], tmp, "us-central1")
    return src


# ---------------------------------------------------------------- backup first, on the action


def test_only_migrate_table_is_blocked_until_its_backup_exists(adapter: Adapter, ds_prefix: str,
                                                               project_root: Path, tmp_path: Path) -> None:
    """`apply --only CreateDataset`, then `--only MigrateTable`: on main the second migrated
    with the archive dataset empty (no backup at all). Now the migration is blocked at plan
    time (exit 3), naming the backup, and nothing is copied."""
    p = ds_prefix
    src = seed_vix(adapter, p, tmp_path)
    desired = write_spec(project_root, migration_spec(p))
    for only in (("CreateDataset",), ("MigrateTable",)):
        session = Session(desired, adapter, run_id=f"r-{only[0].lower()}", target="local",
                          scope=Scope(only=only))
        applied = session.apply(session.plan())
    mig = next(a for a in applied.plan.actions if isinstance(a, MigrateTable))
    assert any("backup first" in b for b in mig.blocked_by), mig.blocked_by
    assert applied.exit_code == 3
    assert not adapter.table_exists(f"{p}market.fwd_vix_daily")
    assert not adapter.table_exists(f"{p}arch.{backup_name(p + 'legacy', 'vix_daily')}")
    assert mig.backups == ((src, f"{p}arch.{backup_name(p + 'legacy', 'vix_daily')}"),)


def test_executor_refuses_a_migration_run_alone_without_its_backup(adapter: Adapter, ds_prefix: str,
                                                                   project_root: Path, tmp_path: Path) -> None:
    """A flow's single MigrateTable task (or a resumed run) carries out the action alone:
    the executor itself refuses it while the backup it requires is missing."""
    p = ds_prefix
    src = seed_vix(adapter, p, tmp_path)
    desired = write_spec(project_root, migration_spec(p))
    for ds in ("market", "ops", "arch"):
        adapter.create_dataset(f"{p}{ds}", "us-central1")
    plan, _ = make_plan(adapter, desired)
    alone = replace(plan, actions=tuple(a for a in plan.actions if isinstance(a, MigrateTable)))
    # Even an action that carries no backups (a plan saved before the field existed):
    # the executor derives the required backups from the spec again.
    bare = replace(alone, actions=tuple(MigrateTable(source=a.source, destination=a.destination, rows=a.rows)
                                      for a in alone.actions))
    for pl in (alone, bare):
        r = apply_plan(adapter, desired, pl)
        (o,) = r.outcomes
        assert o.status == "failed" and "backup first" in o.detail, o.detail
    assert not adapter.table_exists(f"{p}market.fwd_vix_daily")
    assert adapter.count_rows(src) == 1259


def test_a_backup_with_the_right_count_but_other_rows_is_not_a_backup(adapter: Adapter, ds_prefix: str,
                                                                      project_root: Path,
                                                                      tmp_path: Path) -> None:
    """Identity is never by row count only: a table under the backup's name with the
    source's count but another row is refused (BackupTable fails, the migration does not run);
    on main it was taken as the backup ("backup exists with 1,259 rows")."""
    p = ds_prefix
    src = seed_vix(adapter, p, tmp_path)
    desired = write_spec(project_root, migration_spec(p))
    for ds in ("market", "ops", "arch"):
        adapter.create_dataset(f"{p}{ds}", "us-central1")
    bk = f"{p}arch.{backup_name(p + 'legacy', 'vix_daily')}"
    adapter.copy_table(src, bk)
    adapter.execute(f"UPDATE {adapter.q(bk)} SET close = close + 1 WHERE date = "
                    f"(SELECT MIN(date) FROM {adapter.q(bk)})")
    assert adapter.count_rows(bk) == 1259 and checksum(adapter, bk) != checksum(adapter, src)
    before = checksum(adapter, bk)
    plan, _ = make_plan(adapter, desired)
    # The backup's name is taken, so the planner plans no BackupTable; the migration is
    # refused by the executor's proof.
    assert not [a for a in plan.changes if isinstance(a, BackupTable)]
    r = apply_plan(adapter, desired, plan)
    mig = next(o for o in r.outcomes if o.kind == "MigrateTable")
    assert mig.status == "failed" and "content checksum differs" in mig.detail, mig.detail
    assert not adapter.table_exists(f"{p}market.fwd_vix_daily")
    assert checksum(adapter, bk) == before  # never overwritten


def test_backup_table_refuses_a_same_count_impostor(adapter: Adapter, ds_prefix: str,
                                                   project_root: Path, tmp_path: Path) -> None:
    """The BackupTable handler itself: an existing table under the backup name with the
    same count and other rows fails the action (main: 'backup exists', noop)."""
    p = ds_prefix
    src = seed_vix(adapter, p, tmp_path)
    desired = write_spec(project_root, migration_spec(p))
    adapter.create_dataset(f"{p}arch", "us-central1")
    bk = f"{p}arch.{backup_name(p + 'legacy', 'vix_daily')}"
    adapter.copy_table(src, bk)
    adapter.execute(f"UPDATE {adapter.q(bk)} SET close = 0 WHERE close > 20")
    plan = replace(make_plan(adapter, desired)[0], actions=(BackupTable(source=src, backup=bk, rows=1259),))
    (o,) = apply_plan(adapter, desired, plan).outcomes
    assert o.status == "failed" and "not overwriting" in o.detail, o.detail


# ---------------------------------------------------------------- AddColumns, exit codes


def test_add_columns_adds_to_the_data_not_only_the_metadata(adapter: Adapter, ds_prefix: str,
                                                            project_root: Path) -> None:
    """On main AddColumns used update_table: the emulator changed only its metadata and the
    next write into the new column failed "does not have a column named ...". Now the
    column is added by ALTER TABLE ... ADD COLUMN, and the table takes rows in it."""
    p = ds_prefix
    adapter.create_dataset(f"{p}raw", "us-central1")
    adapter.create_table(f"{p}raw.vix", [("date", "DATE", "REQUIRED"), ("vix_close", "FLOAT64", "NULLABLE")])
    adapter.execute(f"INSERT INTO {adapter.q(p + 'raw.vix')} (date, vix_close) VALUES ('2018-01-02', 9.77)")
    desired = write_spec(project_root, f"""\
        version: 1
        project: cbi-v14
        default_location: us-central1
        ops_dataset: {p}raw
        datasets:
          {p}raw: {{}}
        tables:
          {p}raw.vix:
            columns: [{{name: date, type: DATE, mode: REQUIRED}}, {{name: vix_close, type: FLOAT64}},
                      {{name: source_note, type: STRING}}]
        """)
    plan, _ = make_plan(adapter, desired)
    assert [a.kind for a in plan.changes] == ["AddColumns"]
    r = apply_plan(adapter, desired, plan)
    assert r.ok, [(o.key, o.detail) for o in r.outcomes]
    adapter.execute(f"INSERT INTO {adapter.q(p + 'raw.vix')} (date, vix_close, source_note) "
                    "VALUES ('2018-01-03', 9.15, 'CBOE via arch.data')")
    rows = adapter.query(f"SELECT COUNT(source_note) AS n, COUNT(*) AS m FROM {adapter.q(p + 'raw.vix')}")
    assert rows == [{"n": 1, "m": 2}]
    again, _ = make_plan(adapter, desired)
    assert not again.changes, [a.key for a in again.changes]


def test_apply_exits_3_not_2_when_changes_remain(adapter: Adapter, ds_prefix: str, project_root: Path,
                                                 tmp_path: Path, emulator, monkeypatch, capsys) -> None:
    """`reconcile apply --only CreateDataset` leaves the migration pending: main exited 2,
    which is not an apply exit code (0/3/1). Now 3; a dry run with changes is 3 as well."""
    from reconcile.cli import main as cli

    p = ds_prefix
    monkeypatch.setenv("BIGQUERY_EMULATOR_HOST", emulator.endpoint)
    seed_vix(adapter, p, tmp_path)
    write_spec(project_root, migration_spec(p))
    spec = str(project_root / "desired_state" / "spec.yaml")
    assert cli.main(["apply", "--spec", spec, "--auto-approve", "--only", "CreateDataset"]) == 3
    assert cli.main(["apply", "--spec", spec, "--dry-run"]) == 3
    # A malformed allow is bad input: exit 1, nothing read or changed.
    assert cli.main(["apply", "--spec", spec, "--auto-approve", "--allow-destructive", "drop:everything"]) == 1
    assert "expected replace, delete" in capsys.readouterr().err
    assert not adapter.table_exists(f"{p}market.fwd_vix_daily")


# ---------------------------------------------------------------- prove before deleting (archive)


def archive_delete_spec(p: str) -> str:
    return f"""\
        version: 1
        project: cbi-v14
        default_location: us-central1
        ops_dataset: {p}ops
        datasets:
          {p}ops: {{}}
          {p}arch: {{}}
        archive:
          dataset: {p}arch
          sources: ["{p}old_backup"]
          delete_sources: true
        """


def test_archive_never_deletes_a_source_holding_a_routine(adapter: Adapter, ds_prefix: str,
                                                          project_root: Path, tmp_path: Path) -> None:
    """Archiving deleted the source dataset with delete_contents=True after checking only
    its tables. A routine (or model) in it is invisible to a table copy: now the deletion
    is refused before anything is deleted; the table is archived and proven."""
    p = ds_prefix
    adapter.create_dataset(f"{p}old_backup", "us-central1")
    load_table(adapter, f"{p}old_backup.vix_daily", legacy_tables()[VIX], tmp_path, "us-central1")
    adapter.execute(f"CREATE FUNCTION `cbi-v14`.`{p}old_backup`.to_pct(x FLOAT64) AS (x / 100)")
    desired = write_spec(project_root, archive_delete_spec(p))
    plan, _ = make_plan(adapter, desired, allow_destructive=[f"delete:{p}old_backup"])
    arc = next(a for a in plan.changes if a.kind == "ArchiveDataset")
    assert arc.delete_source
    r = apply_plan(adapter, desired, plan)
    o = r.by_key()[arc.key]
    assert o.status == "failed" and f"{p}old_backup.to_pct" in o.detail, o.detail
    assert f"{p}old_backup" in dict(adapter.list_datasets())
    assert [x.routine_id for x in adapter.client.list_routines(f"cbi-v14.{p}old_backup")] == ["to_pct"]
    assert checksum(adapter, f"{p}arch.{p}old_backup__vix_daily") == checksum(adapter, f"{p}old_backup.vix_daily")


def test_archive_deletes_a_source_only_after_proving_every_copy(adapter: Adapter, ds_prefix: str,
                                                                project_root: Path, tmp_path: Path) -> None:
    """An archive copy with the source's count but other rows (a hand copy, a collision
    earlier) is never taken as the copy: the deletion is refused and the source stays."""
    p = ds_prefix
    adapter.create_dataset(f"{p}old_backup", "us-central1")
    adapter.create_dataset(f"{p}arch", "us-central1")
    src = f"{p}old_backup.vix_daily"
    load_table(adapter, src, legacy_tables()[VIX], tmp_path, "us-central1")
    fake = f"{p}arch.{p}old_backup__vix_daily"
    adapter.copy_table(src, fake)
    adapter.execute(f"UPDATE {adapter.q(fake)} SET close = -1 WHERE close > 30")
    desired = write_spec(project_root, archive_delete_spec(p))
    plan, _ = make_plan(adapter, desired, allow_destructive=["delete"])
    r = apply_plan(adapter, desired, plan)
    o = next(o for o in r.outcomes if o.kind == "ArchiveDataset")
    assert o.status == "failed" and "content checksum differs" in o.detail, o.detail
    assert adapter.count_rows(src) == 1259
