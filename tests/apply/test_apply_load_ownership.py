"""Loads on warehouses this tool did not build (issues 13 and 18), against the local BigQuery:

- a table under the tool's temporary-table name that no ops record says the tool made
  is never deleted (FINDINGS.md F1); a recorded crash leftover is dropped before loading;
- a target already holding duplicate keys is not merged into: the plan blocks the load
  naming the table, the keys and how many (F2);
- a file in the load ledger whose rows were deleted from the table outside the tool is
  planned again ("N rows of FILE missing from TABLE") and apply restores them (issue 18).

Every table is built from the demo's real staging rows (reconcile.demo.data).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from apply_helpers import (
    apply_plan, checksum, copy_staging, load_table, make_plan, reference_checksum, statuses, write_spec,
)
from test_apply_loads import load_spec_text, view_files
from reconcile.apply import executor
from reconcile.apply.context import Context
from reconcile.bq.adapter import Adapter
from reconcile.plan.actions import MergeLoad, Unmanaged

pytestmark = pytest.mark.integration

WEATHER_KEY = "MergeLoad:{p}raw.weather_granular<-staging/weather_granular.parquet"


def _setup(adapter: Adapter, p: str, project_root: Path, staging_src: Path, first: int = 100):
    """The spec of test_apply_loads, its datasets and tables made as it declares them, and
    the weather table holding the file's first `first` rows loaded by hand (so the load
    MERGEs through a temporary table)."""
    copy_staging(staging_src, project_root, ["weather_granular.parquet", "vix_daily.parquet"])
    desired = write_spec(project_root, load_spec_text(p), view_files(p))
    for ds in desired.datasets:
        adapter.create_dataset(ds, desired.location_of(ds))
    for ref in desired.tables:
        adapter.create_table(ref, desired.columns_of(ref))
    real = pq.read_table(staging_src / "weather_granular.parquet")
    if first:
        pq.write_table(real.slice(0, first), project_root / "hand.parquet")
        adapter.load_parquet(project_root / "hand.parquet", f"{p}raw.weather_granular")
    return desired, real


def _weather_load(plan) -> MergeLoad:
    return next(a for a in plan.actions if isinstance(a, MergeLoad) and a.table.endswith(".weather_granular"))


def test_a_foreign_table_under_the_temporary_name_survives_a_load(
        adapter: Adapter, ds_prefix: str, project_root: Path, staging_src: Path, tmp_path: Path) -> None:
    p = ds_prefix
    desired, real = _setup(adapter, p, project_root, staging_src)
    plan, _ = make_plan(adapter, desired)
    tmp = executor.tmp_table_for(_weather_load(plan))
    # Someone else's table under exactly the name the load would use, with real rows.
    load_table(adapter, tmp, real.slice(500, 3), tmp_path)
    foreign = checksum(adapter, tmp)

    plan, _ = make_plan(adapter, desired)
    listed = [a for a in plan.actions if isinstance(a, Unmanaged) and a.object == tmp]
    assert len(listed) == 1 and listed[0].is_blocked and listed[0].rows == 3, plan.actions
    assert "no record" in listed[0].blocked_by[0] and plan.exit_code() == 3
    assert not _weather_load(plan).blocked_by  # the load itself goes ahead, through another name

    r = apply_plan(adapter, desired, plan)
    assert statuses(r)[WEATHER_KEY.format(p=p)] == "done", [(o.key, o.detail) for o in r.outcomes]
    assert checksum(adapter, tmp) == foreign  # untouched: same rows, same content
    assert checksum(adapter, f"{p}raw.weather_granular") == reference_checksum(
        adapter, project_root / "staging" / "weather_granular.parquet", f"{p}ops", "ref_weather")
    # No temporary table of the tool's own left behind; the foreign one is still listed.
    left = [t for t, _ in adapter.list_tables(f"{p}raw") if t.startswith(executor.TMP_PREFIX)]
    assert [f"{p}raw.{t}" for t in left] == [tmp]
    again, _ = make_plan(adapter, desired)
    assert not again.changes and [a.key for a in again.blocked] == [f"Unmanaged:{tmp}"]


def test_a_recorded_crash_leftover_is_dropped_before_the_load(
        adapter: Adapter, ds_prefix: str, project_root: Path, staging_src: Path, tmp_path: Path) -> None:
    p = ds_prefix
    desired, real = _setup(adapter, p, project_root, staging_src)
    plan, _ = make_plan(adapter, desired)
    load = _weather_load(plan)
    tmp = executor.tmp_table_for(load)
    # What a run killed after its load job leaves: the file's rows in the temporary table,
    # recorded in ops with the table's creation time.
    load_table(adapter, tmp, real, tmp_path)
    ctx = Context(plan, desired, adapter, "20261206t000000z-crashed0")
    ctx.record_temp(tmp, adapter.table_created_ms(tmp))

    plan, snap = make_plan(adapter, desired)
    assert snap.own_temp_tables == [tmp]
    assert not [a for a in plan.actions if isinstance(a, Unmanaged) and a.object == tmp]
    r = apply_plan(adapter, desired, plan)
    assert statuses(r)[WEATHER_KEY.format(p=p)] == "done"
    assert adapter.table_created_ms(tmp) is None  # dropped: it was the tool's own
    assert adapter.count_rows(f"{p}raw.weather_granular") == real.num_rows  # merged once, not twice
    assert_plan_exit = make_plan(adapter, desired)[0].exit_code()
    assert assert_plan_exit == 0
