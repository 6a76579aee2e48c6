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
from reconcile.bq.adapter import Adapter, param
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


def test_duplicate_keys_in_the_target_block_the_load(
        adapter: Adapter, ds_prefix: str, project_root: Path, staging_src: Path) -> None:
    p = ds_prefix
    desired, real = _setup(adapter, p, project_root, staging_src)
    # One of the rows loaded by hand once more: the target holds its key twice.
    pq.write_table(real.slice(42, 1), project_root / "again.parquet")
    adapter.load_parquet(project_root / "again.parquet", f"{p}raw.weather_granular")
    before = checksum(adapter, f"{p}raw.weather_granular")

    plan, snap = make_plan(adapter, desired)
    assert snap.load_checks[f"{p}raw.weather_granular"] == {"rows": 101, "load_keys:date,station": 100}
    load = _weather_load(plan)
    assert load.is_blocked and plan.exit_code() == 3
    assert load.blocked_by == (f"{p}raw.weather_granular already holds duplicate keys on (date, station): 1 rows "
                               "repeat a key another row has; a MERGE would update every copy and keep them: "
                               "remove the duplicates by hand, then re-plan",)
    r = apply_plan(adapter, desired, plan)
    assert statuses(r)[WEATHER_KEY.format(p=p)] == "blocked"
    assert checksum(adapter, f"{p}raw.weather_granular") == before  # not merged into


def test_rows_deleted_outside_the_tool_are_loaded_again(
        adapter: Adapter, ds_prefix: str, project_root: Path, staging_src: Path) -> None:
    p = ds_prefix
    desired, real = _setup(adapter, p, project_root, staging_src, first=0)
    r = apply_plan(adapter, desired, make_plan(adapter, desired)[0])
    assert r.ok, [(o.key, o.detail) for o in r.outcomes]
    weather = f"{p}raw.weather_granular"
    full = checksum(adapter, weather)
    ledger = adapter.query(f"SELECT key_column, key_min, key_max, key_rows FROM "
                           f"{adapter.q(p + 'ops.load_key_ranges')} WHERE table_ref = @t", [param("t", weather)])
    dates = real.column("date").to_pylist()
    assert ledger == [{"key_column": "date", "key_min": min(dates).isoformat(), "key_max": max(dates).isoformat(),
                       "key_rows": real.num_rows}]
    assert make_plan(adapter, desired)[0].exit_code() == 0

    # Rows deleted outside the tool: the file is in the ledger, the table lacks its rows.
    adapter.execute(f"DELETE FROM {adapter.q(weather)} WHERE date < DATE '2013-01-01'", location="us-central1")
    gone = sum(1 for d in dates if d < dt.date(2013, 1, 1))
    assert gone and adapter.count_rows(weather) == real.num_rows - gone
    plan, _ = make_plan(adapter, desired)
    load = _weather_load(plan)
    assert [a.key for a in plan.changes] == [load.key, f"Validate:{weather}"] and not load.blocked_by
    assert load.reload == f"{gone:,} rows of staging/weather_granular.parquet missing from {weather}"
    r = apply_plan(adapter, desired, plan)
    assert statuses(r)[load.key] == "done", [(o.key, o.detail) for o in r.outcomes]
    assert checksum(adapter, weather) == full  # restored, nothing doubled
    assert make_plan(adapter, desired)[0].exit_code() == 0

    # Every row deleted (203 -> 0 in issue 18): the same, through the empty-table load.
    adapter.execute(f"DELETE FROM {adapter.q(weather)} WHERE TRUE", location="us-central1")
    plan, _ = make_plan(adapter, desired)
    assert _weather_load(plan).reload == f"{real.num_rows:,} rows of staging/weather_granular.parquet missing from {weather}"
    assert apply_plan(adapter, desired, plan).ok
    assert checksum(adapter, weather) == full
    assert make_plan(adapter, desired)[0].exit_code() == 0


def test_keys_are_checked_on_the_table_after_the_merge(
        adapter: Adapter, ds_prefix: str, project_root: Path, staging_src: Path) -> None:
    """A plan made on a clean target, applied after a duplicate key appeared in it: the
    MERGE keeps both copies, the re-checked gate fails the load as a gate (apply exit 3),
    naming the key, and the file is not recorded: the next plan blocks it (F2's check)."""
    from reconcile.apply.session import Applied

    p = ds_prefix
    desired, real = _setup(adapter, p, project_root, staging_src)
    plan, _ = make_plan(adapter, desired)
    assert not _weather_load(plan).blocked_by
    pq.write_table(real.slice(7, 1), project_root / "again.parquet")  # a real row, loaded twice
    adapter.load_parquet(project_root / "again.parquet", f"{p}raw.weather_granular")
    r = apply_plan(adapter, desired, plan)
    o = r.by_key()[WEATHER_KEY.format(p=p)]
    row = real.slice(7, 1).to_pylist()[0]
    assert o.status == "failed" and o.observed["gate"] == "keys unique" and o.observed["duplicated_keys"] == 1
    assert f"(date={row['date'].isoformat()}, station={row['station']}): 2 rows" in o.detail
    applied = Applied(project=adapter.project, run_id=r.run_id, plan=plan, outcomes=r.outcomes,
                      after=make_plan(adapter, desired)[0])
    assert applied.exit_code == 3  # a gate, not an error
    assert not adapter.query(f"SELECT * FROM {adapter.q(p + 'ops.load_ledger')} WHERE table_ref = @t",
                             [param("t", f"{p}raw.weather_granular")])
    again = _weather_load(applied.after)
    assert again.is_blocked and "duplicate keys on (date, station): 1 rows" in again.blocked_by[-1]
