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
