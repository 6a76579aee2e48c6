"""Batched observations and parallel snapshot reads, against the local BigQuery.

The snapshot observes every table with expectations in one UNION ALL per location (and
per OBSERVE_MAX_TABLES tables): its request count does not grow with the tables that have
expectations, and the batched metrics equal the single-table scan's (observe_table), for
tables whose metric types differ (DATE, FLOAT64, INT64, STRING) in two locations. Its
queries run concurrently: the same requests and the same snapshot with parallelism 1.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from reconcile.bq.adapter import Adapter
from reconcile.snapshot import observe
from reconcile.snapshot.observe import observe_table
from reconcile.snapshot.read import read_snapshot
from reconcile.spec.load import load_spec

pytestmark = pytest.mark.integration

PRICES = [("date", "DATE", "NULLABLE"), ("symbol", "STRING", "NULLABLE"),
          ("close", "FLOAT64", "NULLABLE"), ("volume", "INT64", "NULLABLE")]
# Real rows: the first CBOE VIX closes of 2015 (the demo's vix_daily staging file).
ROWS = "('2015-01-02', 'VIX', 17.79, 1), ('2015-01-05', 'VIX', 19.92, 2), ('2015-01-06', 'VIX', 21.12, 3)"


def build(adapter: Adapter, p: str, n_us: int, n_eu: int) -> None:
    adapter.create_dataset(f"{p}us", "us-central1")
    adapter.create_dataset(f"{p}eu", "EU")
    for ds, loc, n in ((f"{p}us", "us-central1", n_us), (f"{p}eu", "EU", n_eu)):
        for i in range(n):
            cols = PRICES if i % 2 == 0 else [("date", "DATE", "NULLABLE"), ("close", "FLOAT64", "NULLABLE")]
            adapter.create_table(f"{ds}.t{i}", cols)
        if n:
            adapter.execute(f"INSERT INTO {adapter.q(f'{ds}.t0')} (date, symbol, close, volume) VALUES {ROWS}",
                            location=loc)


def spec(root: Path, p: str, expect: bool) -> Path:
    exp = textwrap.dedent(f"""\
        expectations:
          "{p}us.t*": {{min_rows: 1, ranges: {{close: {{min: 0, max: 100}}}}, coverage: {{column: date, from: 2015-01-02, to: 2015-01-06}}}}
          "{p}eu.t0": {{min_distinct: {{symbol: 1}}, ranges: {{volume: {{min: 1, max: 3}}}}, placeholders: {{symbol: [VIX]}}}}
          "{p}eu.t1": {{min_rows: 1, coverage: {{column: date, from: 2015-01-02, to: 2015-01-06}}}}
        """) if expect else ""
    path = root / "desired_state" / "spec.yaml"
    path.write_text(textwrap.dedent(f"""\
        version: 1
        project: cbi-v14
        default_location: us-central1
        ops_dataset: {p}us
        datasets: {{{p}us: {{}}, {p}eu: {{location: EU}}}}
        """) + exp)
    return path


def test_observations_batched_equal_single_scans_and_requests_stay_flat(
        adapter: Adapter, ds_prefix: str, project_root: Path) -> None:
    p = ds_prefix
    build(adapter, p, n_us=6, n_eu=2)
    without = read_snapshot(adapter, load_spec(spec(project_root, p, False), root=project_root))
    desired = load_spec(spec(project_root, p, True), root=project_root)
    snap = read_snapshot(adapter, desired)
    observed = sorted(snap.observations)
    assert observed == sorted([f"{p}us.t{i}" for i in range(6)] + [f"{p}eu.t0", f"{p}eu.t1"])
    # one UNION ALL per location; COLUMNS of the same datasets (one query per location)
    assert snap.requests - without.requests <= 2 + 2
    for ref in observed:
        loc = "EU" if ".".join(ref.split(".")[:1]).endswith("eu") else "us-central1"
        assert snap.observations[ref] == observe_table(adapter, desired, ref, desired.expectations_for(ref),
                                                       location=loc), ref
    assert snap.observations[f"{p}us.t0"]["max:close"] == 21.12
    assert snap.observations[f"{p}us.t0"]["coverage_min:date"] == "2015-01-02"
    assert snap.observations[f"{p}eu.t0"]["placeholders:symbol"] == 3
    assert snap.observations[f"{p}us.t1"]["rows"] == 0


def test_batches_split_at_the_table_bound_and_reads_agree_in_sequence(
        adapter: Adapter, ds_prefix: str, project_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    p = ds_prefix
    build(adapter, p, n_us=5, n_eu=0)
    desired = load_spec(spec(project_root, p, True), root=project_root)
    one = read_snapshot(adapter, desired)
    monkeypatch.setattr(observe, "OBSERVE_MAX_TABLES", 2)
    split = read_snapshot(adapter, desired)
    assert split.requests == one.requests + 2  # 5 tables: 3 queries of at most 2 instead of 1
    assert split.observations == one.observations
    monkeypatch.undo()
    seq = read_snapshot(adapter, desired, parallelism=1)
    assert seq.requests == one.requests
    assert seq.model_dump(exclude={"taken_at"}) == one.model_dump(exclude={"taken_at"})
