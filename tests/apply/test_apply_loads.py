"""Apply: datasets, tables, views, MERGE loads and gates, against the local BigQuery.

Every test writes a small spec over real staging data (`reconcile.demo.data`), plans,
applies, reads the warehouse again and checks the plan is empty (convergence) and
that each loaded table holds exactly the file's rows (count + content checksum).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from apply_helpers import (
    VIX_COLUMNS, WEATHER_COLUMNS, apply_plan, assert_converged, checksum, copy_staging, make_plan,
    reference_checksum, statuses, write_spec,
)
from reconcile.apply import executor
from reconcile.plan.actions import Action, CreateDataset, CreateTable, Plan, UnknownAction
from reconcile.bq.adapter import Adapter, param

pytestmark = pytest.mark.integration


def load_spec_text(p: str, extra_loads: str = "") -> str:
    # Clustered, not partitioned: the emulator's PARTITIONS view costs ~5.6 ms per partition
    # (8 s per snapshot for 1,461 daily partitions, docs/emulator.md).
    return f"""\
        version: 1
        project: cbi-v14
        default_location: us-central1
        ops_dataset: {p}ops
        datasets:
          {p}raw: {{description: raw data}}
          {p}ops: {{}}
        tables:
          {p}raw.weather_granular:
            cluster_by: [station]
            columns: {WEATHER_COLUMNS}
          {p}raw.vix_daily:
            columns: {VIX_COLUMNS}
        views:
          {p}raw.weather_by_station: {{sql: sql/views/weather_by_station.sql}}
        loads:
          - {{source: staging/weather_granular.parquet, table: {p}raw.weather_granular, keys: [date, station], min_rows: 1000}}
          - {{source: staging/vix_daily.parquet, table: {p}raw.vix_daily, keys: [date]}}
          {extra_loads}
        expectations:
          "{p}raw.weather_granular":
            min_distinct: {{station: 1}}
            ranges: {{temp_max: {{min: -50, max: 60}}}}
        """


def view_files(p: str) -> dict[str, str]:
    return {"sql/views/weather_by_station.sql":
            f"SELECT station, COUNT(*) AS days FROM `{p}raw.weather_granular` GROUP BY station\n"}


def test_fresh_spec_dry_run_then_apply_converges(adapter: Adapter, ds_prefix: str, project_root: Path,
                                                  staging_src: Path) -> None:
    p = ds_prefix
    copy_staging(staging_src, project_root, ["weather_granular.parquet", "vix_daily.parquet"])
    desired = write_spec(project_root, load_spec_text(p), view_files(p))
    plan, _ = make_plan(adapter, desired)
    kinds = [a.kind for a in plan.changes]
    assert kinds == ["CreateDataset", "CreateDataset", "CreateTable", "CreateTable", "MergeLoad",
                     "MergeLoad", "CreateView", "Validate"], kinds

    # Dry run: describes, sends nothing.
    before = adapter.requests.count
    dry = apply_plan(adapter, desired, plan, dry_run=True)
    assert adapter.requests.count == before
    assert {o.status for o in dry.outcomes} == {"dry-run"}
    merge = next(o for o in dry.outcomes if o.kind == "MergeLoad")
    assert "MERGE" in merge.observed["sql"] and "IS DISTINCT FROM" in merge.observed["sql"]
    assert not [d for d, _ in adapter.list_datasets() if d.startswith(p)]

    messages: list[str] = []
    result = apply_plan(adapter, desired, plan, progress=messages.append)
    assert result.ok, [(o.key, o.detail) for o in result.outcomes if o.status != "done"]
    assert set(statuses(result).values()) == {"done"}
    assert messages[0] == f"[1/8] CreateDataset {p}ops"
    assert f"MergeLoad {p}raw.weather_granular <- staging/weather_granular.parquet" in messages[4] + messages[5]
    loads = {o.target: o.observed for o in result.outcomes if o.kind == "MergeLoad"}
    assert loads[f"{p}raw.weather_granular"]["inserted"] == 1461
    assert loads[f"{p}raw.weather_granular"]["updated"] == 0
    assert loads[f"{p}raw.vix_daily"]["inserted"] == 1259
    validate = next(o for o in result.outcomes if o.kind == "Validate")
    assert validate.observed["observed"]["min_rows"] == "1,461"

    assert_converged(adapter, desired)
    for name in ("weather_granular", "vix_daily"):
        assert checksum(adapter, f"{p}raw.{name}") == reference_checksum(
            adapter, project_root / "staging" / f"{name}.parquet", f"{p}ops", f"ref_{name}")
    # No temporary table left; every outcome recorded; one ledger row per file.
    assert not [t for t, _ in adapter.list_tables(f"{p}raw") if t.startswith(executor.TMP_PREFIX)]
    recs = adapter.query(f"SELECT action_key, status, observed FROM {adapter.q(p + 'ops.run_records')} "
                         "WHERE run_id = @r", [param("r", result.run_id)])
    assert len(recs) == 8 and {r["status"] for r in recs} == {"done"}
    ledger = adapter.query(f"SELECT table_ref, `rows`, rows_inserted FROM {adapter.q(p + 'ops.load_ledger')} "
                           "ORDER BY table_ref")
    assert [(r["rows"], r["rows_inserted"]) for r in ledger] == [(1259, 1259), (1461, 1461)]


def _write(table: pa.Table, path: Path) -> None:
    pq.write_table(table, path, compression="zstd")


def _change_temp_max(table: pa.Table, rows: list[int], delta: float) -> pa.Table:
    """The same real rows with `temp_max` corrected on some of them (a restated observation)."""
    values = table.column("temp_max").to_pylist()
    for i in rows:
        values[i] = round(values[i] + delta, 1)
    return table.set_column(table.schema.get_field_index("temp_max"), "temp_max",
                            pa.array(values, pa.float64()))


def test_merge_is_idempotent_and_updates_exactly_the_changed_rows(
        adapter: Adapter, ds_prefix: str, project_root: Path, staging_src: Path) -> None:
    p = ds_prefix
    staging = copy_staging(staging_src, project_root, ["vix_daily.parquet"])
    full = pq.read_table(staging_src / "weather_granular.parquet")
    _write(full.slice(0, full.num_rows - 100), staging / "weather_granular.parquet")
    desired = write_spec(project_root, load_spec_text(p), view_files(p))
    first, _ = make_plan(adapter, desired)
    assert apply_plan(adapter, desired, first).ok
    assert adapter.count_rows(f"{p}raw.weather_granular") == 1361
    before = checksum(adapter, f"{p}raw.weather_granular")

    # The same plan again (stale: its files are in the ledger now): nothing is merged twice.
    again = apply_plan(adapter, desired, first)
    assert statuses(again)[f"MergeLoad:{p}raw.weather_granular<-staging/weather_granular.parquet"] == "noop"
    assert checksum(adapter, f"{p}raw.weather_granular") == before

    # The same bytes under another name: a second MERGE of identical rows changes nothing.
    (staging / "weather_copy.parquet").write_bytes((staging / "weather_granular.parquet").read_bytes())
    # Two files into one table with overlapping keys need a declared precedence (issue 18).
    text = load_spec_text(p, extra_loads=(
        f"- {{source: staging/weather_copy.parquet, table: {p}raw.weather_granular, keys: [date, station], "
        "precedence: 2}")).replace("keys: [date, station], min_rows: 1000}", "keys: [date, station], min_rows: 1000, precedence: 1}", 1)
    desired = write_spec(project_root, text, view_files(p))
    second, _ = make_plan(adapter, desired)
    assert [a.key for a in second.changes if a.kind == "MergeLoad"] == \
        [f"MergeLoad:{p}raw.weather_granular<-staging/weather_copy.parquet"]
    r = apply_plan(adapter, desired, second)
    assert r.ok
    o = next(o for o in r.outcomes if o.kind == "MergeLoad")
    assert (o.observed["inserted"], o.observed["updated"]) == (0, 0)
    assert checksum(adapter, f"{p}raw.weather_granular") == before

    # The full file, with temp_max restated on 10 existing rows: 100 inserted, exactly 10 updated.
    # The copy has the higher precedence, so it is merged again after it and its (original)
    # values win on the 10 keys they share: the table ends as the real series, unrestated.
    changed = _change_temp_max(full, list(range(0, 1000, 100)), 0.5)
    _write(changed, staging / "weather_granular.parquet")
    third, _ = make_plan(adapter, desired)
    loads = [a for a in third.changes if a.kind == "MergeLoad"]
    assert [a.source for a in loads] == ["staging/weather_granular.parquet", "staging/weather_copy.parquet"]
    assert loads[1].reload and "lower precedence" in loads[1].reload
    r = apply_plan(adapter, desired, third)
    assert r.ok, [(o.key, o.detail) for o in r.outcomes]
    merged = {o.key: o.observed for o in r.outcomes if o.kind == "MergeLoad"}
    assert (merged[loads[0].key]["inserted"], merged[loads[0].key]["updated"]) == (100, 10)
    assert (merged[loads[1].key]["inserted"], merged[loads[1].key]["updated"]) == (0, 10)
    assert checksum(adapter, f"{p}raw.weather_granular") == reference_checksum(
        adapter, staging_src / "weather_granular.parquet", f"{p}ops", "ref_weather")
    assert_converged(adapter, desired)


def test_placeholder_or_changed_file_leaves_the_table_untouched(
        adapter: Adapter, ds_prefix: str, project_root: Path, staging_src: Path) -> None:
    p = ds_prefix
    staging = copy_staging(staging_src, project_root, ["weather_granular.parquet", "vix_daily.parquet"])
    desired = write_spec(project_root, load_spec_text(p), view_files(p))
    assert apply_plan(adapter, desired, make_plan(adapter, desired)[0]).ok
    before = checksum(adapter, f"{p}raw.weather_granular")
    real = pq.read_table(staging_src / "weather_granular.parquet")

    # A file with placeholder values: refused by the gate, never loaded.
    weather = real.column("weather").to_pylist()
    for i in (5, 50, 500):
        weather[i] = "TODO"
    _write(real.set_column(real.schema.get_field_index("weather"), "weather", pa.array(weather)),
           staging / "weather_granular.parquet")
    plan, _ = make_plan(adapter, desired)
    assert plan.exit_code() == 3
    r = apply_plan(adapter, desired, plan)
    refused = next(o for o in r.outcomes if o.kind == "RefuseLoad")
    assert refused.status == "skipped" and "placeholder" in refused.detail
    assert r.ok and checksum(adapter, f"{p}raw.weather_granular") == before

    # A valid file is planned, then replaced before apply: the gate re-check fails the
    # load, the table is untouched and its Validate gate is blocked.
    _write(_change_temp_max(real, [1, 2, 3], 1.0), staging / "weather_granular.parquet")
    plan, _ = make_plan(adapter, desired)
    _write(_change_temp_max(real, [7, 8, 9], 2.0), staging / "weather_granular.parquet")
    r = apply_plan(adapter, desired, plan)
    st = statuses(r)
    key = f"MergeLoad:{p}raw.weather_granular<-staging/weather_granular.parquet"
    assert st[key] == "failed" and "changed since the plan" in r.by_key()[key].detail
    assert st[f"Validate:{p}raw.weather_granular"] == "blocked"
    assert r.by_key()[f"Validate:{p}raw.weather_granular"].detail == f"blocked by {key}"
    assert not r.ok
    assert checksum(adapter, f"{p}raw.weather_granular") == before


def test_failed_gate_and_failed_dataset_block_what_depends_on_them(
        adapter: Adapter, ds_prefix: str, project_root: Path, staging_src: Path) -> None:
    p = ds_prefix
    copy_staging(staging_src, project_root, ["weather_granular.parquet", "vix_daily.parquet"])
    text = load_spec_text(p).replace("min_distinct: {station: 1}", "min_distinct: {station: 3}")
    desired = write_spec(project_root, text, view_files(p))
    r = apply_plan(adapter, desired, make_plan(adapter, desired)[0])
    v = r.by_key()[f"Validate:{p}raw.weather_granular"]
    assert v.status == "failed" and "min_distinct(station): expected >= 3, observed 1" in v.detail
    assert v.observed["observed"]["min_distinct(station)"] == "1"
    assert not r.ok

    # A dataset that exists in another region cannot be created: what needs it is blocked,
    # what does not still runs.
    adapter.create_dataset(f"{p}eu", "EU")
    plan = Plan(project=desired.project, actions=(
        CreateDataset(name=f"{p}eu", location="us-central1"),
        CreateDataset(name=f"{p}other", location="us-central1"),
        CreateTable(table=f"{p}eu.t", columns=(("id", "INT64", "NULLABLE"),)),
        CreateTable(table=f"{p}other.t", columns=(("id", "INT64", "NULLABLE"),)),
    ))
    r = apply_plan(adapter, desired, plan)
    assert statuses(r) == {f"CreateDataset:{p}eu": "failed", f"CreateDataset:{p}other": "done",
                           f"CreateTable:{p}eu.t": "blocked", f"CreateTable:{p}other.t": "done"}
    assert r.by_key()[f"CreateTable:{p}eu.t"].detail == f"blocked by CreateDataset:{p}eu"
    assert not adapter.table_exists(f"{p}eu.t")

    # stop_after: partial progress, then a rerun finishes (idempotent).
    r = apply_plan(adapter, desired, plan, stop_after=2)
    assert [o.status for o in r.outcomes] == ["failed", "noop"]


def test_flags_are_skipped_and_unknown_actions_raise(adapter: Adapter, ds_prefix: str,
                                                     project_root: Path, staging_src: Path) -> None:
    p = ds_prefix
    copy_staging(staging_src, project_root, ["weather_granular.parquet", "vix_daily.parquet"])
    desired = write_spec(project_root, load_spec_text(p), view_files(p))
    adapter.create_dataset(f"{p}raw", "US")  # wrong region: flagged, never acted on
    plan, _ = make_plan(adapter, desired)
    r = apply_plan(adapter, desired, plan)
    st = statuses(r)
    assert st[f"FlagRecreate:{p}raw"] == "skipped"
    assert f"--approve-relocation {p}raw" in r.by_key()[f"FlagRecreate:{p}raw"].detail
    assert st[f"CreateTable:{p}raw.weather_granular"] == "blocked"
    assert st[f"CreateDataset:{p}ops"] == "done"
    assert r.ok  # nothing failed: the flag waits for a human
    assert adapter.list_tables(f"{p}raw") == []

    @dataclass(frozen=True, kw_only=True)
    class Bogus(Action):
        @property
        def target(self) -> str:
            return "x.y"

    before = adapter.requests.count
    with pytest.raises(UnknownAction):
        executor.apply(Plan(project=desired.project, actions=(CreateDataset(name=f"{p}z", location="US"),
                                                               Bogus())),
                       desired, adapter, run_id="r1")
    assert adapter.requests.count == before  # raised before anything ran


def test_run_id_is_a_label_value() -> None:
    rid = executor.new_run_id()
    assert len(rid) <= 63 and rid == rid.lower()
    assert dt.datetime.strptime(rid.split("-")[0], "%Y%m%dt%H%M%Sz")


def test_every_action_type_has_an_executor_and_a_dry_run_description(project_root: Path) -> None:
    from reconcile.plan.actions import ACTIONS
    from reconcile.plan.registry import acting_kinds, reported_kinds

    # Acting kinds have a handler and a dry-run description; the others are reported ('skipped').
    acting = set(executor.HANDLERS.mapping())
    assert acting == set(executor.DESCRIBERS.mapping()) == set(acting_kinds())
    assert acting | set(reported_kinds()) == set(ACTIONS)
    skipped = {t.__name__ for t in reported_kinds()}
    assert skipped == {"FlagRecreate", "FlagSchemaConflict", "MissingSource", "RefuseLoad",
                       "ExpectationFailed", "Unmanaged"}


def test_run_can_be_driven_one_action_at_a_time(adapter: Adapter, ds_prefix: str, project_root: Path,
                                                staging_src: Path) -> None:
    """What a Prefect flow does: one task per action, in plan order, then finish()."""
    p = ds_prefix
    copy_staging(staging_src, project_root, ["weather_granular.parquet", "vix_daily.parquet"])
    desired = write_spec(project_root, load_spec_text(p), view_files(p))
    plan, _ = make_plan(adapter, desired)
    run = executor.Run(plan, desired, adapter, run_id=executor.new_run_id())
    for a in plan.actions:
        assert run.run_action(a).status == "done"
    result = run.finish()
    assert result.ok and len(result.outcomes) == len(plan.actions)
    assert_converged(adapter, desired)
