"""Relocation that carries everything or refuses, through the strict BigQuery harness.

- `copy` (the local target's default) refuses, as a named plan-time block, a dataset
  holding a routine: nothing is deleted, the routine is still there.
- `replica` (a bigquery target's default) plans the same dataset as ADD REPLICA / wait /
  promote / DROP REPLICA, the statements checked by the SQL layer, every object at stake
  listed by kind.
- `copy` carries the dataset's properties and access entries to the recreated dataset.
- Ownership (issue 13): a `<name>__relocating` no checkpoint records is a human decision:
  listed with its rows, exit 3, never deleted; `<name>` is not created beside a stranded one.

Seeded with the demo's real rows (VIX daily closes from the staging files).
"""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest

from apply_helpers import VIX_COLUMNS, apply_plan, checksum, load_table, write_spec
from reconcile.bq.adapter import Adapter, local_client
from reconcile.bq.sqltext import check_replica_statement
from reconcile.plan.actions import CreateDataset, RelocateDataset, Unmanaged
from reconcile.plan.names import RELOCATION_SUFFIX
from reconcile.plan.planner import plan
from reconcile.snapshot.read import read_snapshot
from reconcile.spec.sources import read_sources

pytestmark = pytest.mark.integration

PROJECT = "cbi-v14"


@pytest.fixture
def sad(strict) -> Adapter:
    return Adapter(local_client(PROJECT, strict.endpoint), PROJECT, emulator=True, retry_delay=0.05)


def spec(p: str, relocation: str | None = None) -> str:
    reloc = f", relocation: {relocation}" if relocation else ""
    return f"""\
        version: 1
        project: cbi-v14
        default_location: us-central1
        ops_dataset: {p}ops
        targets:
          local: {{type: local}}
          prod: {{type: bigquery, project: cbi-v14{reloc}}}
        datasets:
          {p}mkt: {{description: market data}}
          {p}ops: {{}}
        tables:
          {p}mkt.vix_daily: {{columns: {VIX_COLUMNS}}}
        """


def seed(ad: Adapter, p: str, staging_src: Path, tmp: Path, location: str = "US") -> tuple[int, int | None]:
    ad.create_dataset(f"{p}mkt", location)
    load_table(ad, f"{p}mkt.vix_daily", pq.read_table(staging_src / "vix_daily.parquet"), tmp, location)
    return checksum(ad, f"{p}mkt.vix_daily")


def make(ad: Adapter, desired, target: str = "local", approvals=()):
    snap = read_snapshot(ad, desired, target=target)
    return plan(desired, snap, read_sources(desired), approvals=approvals), snap


def test_copy_relocation_of_a_dataset_holding_a_routine_is_blocked_before_anything_is_deleted(
        sad: Adapter, strict, ds_prefix: str, project_root: Path, staging_src: Path, tmp_path: Path) -> None:
    p = ds_prefix
    desired = write_spec(project_root, spec(p))
    before = seed(sad, p, staging_src, tmp_path)
    sad.execute(f"CREATE FUNCTION `{PROJECT}.{p}mkt.plus1`(x INT64) AS (x + 1)", location="US")
    pl, snap = make(sad, desired, approvals=[f"{p}mkt"])
    assert snap.datasets[f"{p}mkt"].objects == {"ROUTINE": ["plus1"]}
    reloc = next(a for a in pl.actions if isinstance(a, RelocateDataset))
    assert reloc.strategy == "copy" and reloc.is_blocked and pl.exit_code() == 3
    assert "the copy strategy cannot carry ROUTINE plus1" in reloc.blocked_by[0]
    assert ("ROUTINE", ("plus1",)) in reloc.objects and ("TABLE", ("vix_daily",)) in reloc.objects
    result = apply_plan(sad, desired, pl)
    assert result.by_key()[reloc.key].status in ("skipped", "blocked")
    assert dict(sad.list_datasets())[f"{p}mkt"] == "US"
    assert [r.routine_id for r in sad.client.list_routines(f"{PROJECT}.{p}mkt")] == ["plus1"]
    assert checksum(sad, f"{p}mkt.vix_daily") == before
    assert strict.strict.destroyed == []
    assert f"{p}mkt{RELOCATION_SUFFIX}" not in dict(sad.list_datasets())


def test_replica_relocation_of_the_same_dataset_is_planned_as_replica_steps(
        sad: Adapter, strict, ds_prefix: str, project_root: Path, staging_src: Path, tmp_path: Path) -> None:
    p = ds_prefix
    desired = write_spec(project_root, spec(p))
    seed(sad, p, staging_src, tmp_path)
    sad.execute(f"CREATE FUNCTION `{PROJECT}.{p}mkt.plus1`(x INT64) AS (x + 1)", location="US")
    strict.add_model(f"{p}mkt", "vix_model")
    pl, _ = make(sad, desired, target="prod", approvals=[f"{p}mkt"])
    reloc = next(a for a in pl.actions if isinstance(a, RelocateDataset))
    assert reloc.strategy == "replica" and not reloc.is_blocked, reloc.blocked_by
    assert [s for s, _ in reloc.statements] == ["add_replica", "wait_replica", "promote", "drop_replica"]
    st = dict(reloc.statements)
    assert st["add_replica"] == (f"ALTER SCHEMA `{PROJECT}`.`{p}mkt` ADD REPLICA `us-central1` "
                                 "OPTIONS(location = 'us-central1')")
    assert st["drop_replica"] == f"ALTER SCHEMA `{PROJECT}`.`{p}mkt` DROP REPLICA `US`"
    for step, loc in (("add_replica", "us-central1"), ("promote", "us-central1"), ("drop_replica", "US")):
        check_replica_statement(step, st[step], PROJECT, f"{p}mkt", loc)
    with pytest.raises(ValueError):
        check_replica_statement("drop_replica", st["drop_replica"] + "; DROP SCHEMA x", PROJECT, f"{p}mkt", "US")
    assert dict(reloc.objects) == {"TABLE": ("vix_daily",), "ROUTINE": ("plus1",), "MODEL": ("vix_model",)}
    from reconcile.render.describe import describe

    text = describe(reloc)
    assert "by replica" in text and "1 routine (plus1)" in text and "1 model (vix_model)" in text
    # A target that asks for copy gets today's strategy, blocked for the routine and the model.
    desired_copy = write_spec(project_root, spec(p, relocation="copy"))
    pl2, _ = make(sad, desired_copy, target="prod", approvals=[f"{p}mkt"])
    r2 = next(a for a in pl2.actions if isinstance(a, RelocateDataset))
    assert r2.strategy == "copy" and "MODEL vix_model" in r2.blocked_by[0] and "ROUTINE plus1" in r2.blocked_by[0]


def test_copy_relocation_carries_dataset_properties_and_access_entries(
        sad: Adapter, strict, ds_prefix: str, project_root: Path, staging_src: Path, tmp_path: Path) -> None:
    from google.cloud import bigquery

    p = ds_prefix
    desired = write_spec(project_root, spec(p))
    before = seed(sad, p, staging_src, tmp_path)
    ds = sad.client.get_dataset(f"{PROJECT}.{p}mkt")
    ds.default_table_expiration_ms = 30 * 86_400_000
    ds.access_entries = [*ds.access_entries, bigquery.AccessEntry("READER", "userByEmail", "analyst@example.com")]
    sad.client.update_dataset(ds, ["default_table_expiration_ms", "access_entries"])
    pl, _ = make(sad, desired, approvals=[f"{p}mkt"])
    reloc = next(a for a in pl.actions if isinstance(a, RelocateDataset))
    assert not reloc.is_blocked
    result = apply_plan(sad, desired, pl)
    assert result.by_key()[reloc.key].status == "done", result.by_key()[reloc.key].detail
    after = sad.client.get_dataset(f"{PROJECT}.{p}mkt")
    assert after.location == "us-central1"
    assert after.default_table_expiration_ms == 30 * 86_400_000
    assert {(e.role, e.entity_type, e.entity_id) for e in after.access_entries} >= {
        ("READER", "userByEmail", "analyst@example.com")}
    assert checksum(sad, f"{p}mkt.vix_daily") == before
    assert strict.strict.refused == []


def test_a_relocating_dataset_no_checkpoint_records_is_never_emptied(
        sad: Adapter, strict, ds_prefix: str, project_root: Path, staging_src: Path, tmp_path: Path) -> None:
    """Issue 13: a `mkt__relocating` left by a hand migration holds the only copy of a table;
    an approved relocation of `mkt` must not empty it: listed with its rows, exit 3."""
    p = ds_prefix
    desired = write_spec(project_root, spec(p))
    seed(sad, p, staging_src, tmp_path)
    temp = f"{p}mkt{RELOCATION_SUFFIX}"
    sad.create_dataset(temp, "us-central1")
    load_table(sad, f"{temp}.vix_by_hand", pq.read_table(staging_src / "vix_daily.parquet"), tmp_path,
               "us-central1")
    held = checksum(sad, f"{temp}.vix_by_hand")
    pl, _ = make(sad, desired, approvals=[f"{p}mkt"])
    assert pl.exit_code() == 3
    listed = next(a for a in pl.actions if isinstance(a, Unmanaged) and a.object == temp)
    assert listed.is_blocked and listed.rows == held[0]
    assert f"vix_by_hand (table, {held[0]:,} rows)" in listed.blocked_by[0]
    reloc = next(a for a in pl.actions if isinstance(a, RelocateDataset))
    assert reloc.is_blocked and any("no relocation checkpoint" in r for r in reloc.blocked_by)
    apply_plan(sad, desired, pl)
    assert checksum(sad, f"{temp}.vix_by_hand") == held
    assert dict(sad.list_datasets())[f"{p}mkt"] == "US"


def test_a_stranded_relocating_dataset_is_reported_not_papered_over(
        sad: Adapter, strict, ds_prefix: str, project_root: Path, staging_src: Path, tmp_path: Path) -> None:
    """Issue 13: `mkt__relocating` with rows, no checkpoint and no `mkt`: the tool must not
    create an empty `mkt` and call it in sync."""
    p = ds_prefix
    desired = write_spec(project_root, spec(p))
    temp = f"{p}mkt{RELOCATION_SUFFIX}"
    sad.create_dataset(temp, "us-central1")
    load_table(sad, f"{temp}.vix_daily", pq.read_table(staging_src / "vix_daily.parquet"), tmp_path, "us-central1")
    held = checksum(sad, f"{temp}.vix_daily")
    pl, _ = make(sad, desired)
    assert pl.exit_code() == 3
    create = next(a for a in pl.actions if isinstance(a, CreateDataset) and a.name == f"{p}mkt")
    assert create.is_blocked and f"vix_daily (table, {held[0]:,} rows)" in create.blocked_by[0]
    apply_plan(sad, desired, pl)
    assert f"{p}mkt" not in dict(sad.list_datasets())
    assert checksum(sad, f"{temp}.vix_daily") == held
    pl2, _ = make(sad, desired)
    assert pl2.exit_code() == 3
