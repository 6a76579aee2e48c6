"""The offline plan (`plan --snapshot FILE`) equals the plan from the same warehouse state.

A snapshot saved as JSON and loaded back must give the identical plan JSON: for
every planner scenario's snapshot, for a snapshot built in Python (as
read_snapshot builds it), through the CLI, and, with the local BigQuery, for a
snapshot read live.
"""

from __future__ import annotations

import datetime as dt
import json
import textwrap
from pathlib import Path

import pytest
from pr_helpers import FIXTURE, SPEC

from reconcile.cli import main as cli
from reconcile.plan.planner import plan
from reconcile.render.plan import render_json
from reconcile.snapshot.model import ColumnState, DatasetState, LedgerEntry, Snapshot, TableState
from reconcile.snapshot.read import read_snapshot
from reconcile.spec.sources import SourceManifest, read_sources
from reconcile.spec.load import load_spec

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"
CASES = sorted(p.name for p in SCENARIOS.iterdir() if (p / "snapshot.json").exists())


def round_trip(snap: Snapshot, tmp_path: Path) -> Snapshot:
    f = tmp_path / "snapshot.json"
    snap.save(f)
    return Snapshot.load(f)


@pytest.mark.parametrize("case", CASES)
def test_scenario_snapshot_round_trip_gives_the_same_plan(case, tmp_path):
    spec_dir = SCENARIOS / case if (SCENARIOS / case / "spec.yaml").exists() else SCENARIOS / "base"
    desired = load_spec(spec_dir / "spec.yaml", root=spec_dir)
    live = Snapshot.model_validate(json.loads((SCENARIOS / case / "snapshot.json").read_text()))
    saved = round_trip(live, tmp_path)
    assert saved == live
    online, offline = plan(desired, live), plan(desired, saved)
    assert render_json(offline) == render_json(online)
    assert online.actions  # every scenario plans something (at least a diagnostic) against this spec


def python_built_snapshot() -> Snapshot:
    """As read_snapshot builds it: tuples nowhere, dates as strings, observation values typed."""
    cols = [ColumnState(name="date", type="DATE", mode="REQUIRED"), ColumnState(name="station", type="STRING",
                                                                                  mode="REQUIRED")]
    return Snapshot(
        project="demo-project", taken_at=dt.datetime(2025, 11, 19, 12, tzinfo=dt.timezone.utc).isoformat(),
        datasets={"market_data": DatasetState(location="US"), "raw": DatasetState(location="us-central1"),
                  "legacy_models": DatasetState(location="US")},
        tables={"raw.weather": TableState(rows=40, columns=cols),
                "legacy_models.training_data_1m": TableState(rows=10),
                "market_data.prices": TableState(rows=150, columns=None)},
        ledger=[LedgerEntry(table="raw.weather", source="staging/weather.parquet", content_hash="1" * 64,
                            rows=40, loaded_at="2025-11-18T00:00:00+00:00", run_id="r1")],
        observations={"training.zl_training_1m": {"rows": 10, "distinct:regime": 3, "min:training_weight": 1.0,
                                                  "coverage_min:date": "2010-01-04"}},
        requests=7)


def test_python_built_snapshot_round_trip(tmp_path):
    desired = load_spec(FIXTURE / SPEC, root=FIXTURE)
    live = python_built_snapshot()
    saved = round_trip(live, tmp_path)
    assert saved == live
    online = plan(desired, live, SourceManifest())
    assert "FlagRecreate:market_data" in {a.key for a in online.actions}  # market_data is in US
    assert render_json(plan(desired, saved, SourceManifest())) == render_json(online)


def test_cli_offline_plan_equals_library_plan(tmp_path, monkeypatch, capsys):
    desired = load_spec(FIXTURE / SPEC, root=FIXTURE)
    live = python_built_snapshot()
    f = tmp_path / "snap.json"
    live.save(f)
    monkeypatch.chdir(FIXTURE)
    code = cli.main(["plan", "--spec", SPEC, "--snapshot", str(f), "--format", "json"])
    out, err = capsys.readouterr()
    expected = plan(desired, live, read_sources(desired))
    assert out == render_json(expected)
    assert code == expected.exit_code() == 3
    assert "ago" in err  # says how old the snapshot is


def test_unsupported_snapshot_version_is_refused(tmp_path, monkeypatch, capsys):
    f = tmp_path / "snap.json"
    f.write_text(python_built_snapshot().to_json().replace('"version": 1', '"version": 99'))
    monkeypatch.chdir(FIXTURE)
    assert cli.main(["plan", "--spec", SPEC, "--snapshot", str(f)]) == 1
    assert "unsupported snapshot version 99" in capsys.readouterr().err


@pytest.mark.integration
def test_live_snapshot_and_saved_snapshot_plan_alike(adapter, ds_prefix, tmp_path):
    """Online (read from the local BigQuery) vs offline (the same snapshot saved and loaded)."""
    p = ds_prefix
    adapter.create_dataset(f"{p}market", "US")  # wrong region: a blocked relocation
    adapter.create_dataset(f"{p}raw", "us-central1")
    adapter.create_table(f"{p}raw.weather", [("date", "DATE", "REQUIRED"), ("station", "STRING", "REQUIRED")])
    adapter.execute(f"INSERT INTO {adapter.q(f'{p}raw.weather')} (date, station) VALUES "
                    "(DATE '2020-01-01', 'SEA'), (DATE '2020-01-02', 'SEA')", location="us-central1")
    spec = tmp_path / "desired_state" / "spec.yaml"
    spec.parent.mkdir()
    spec.write_text(textwrap.dedent(f"""\
        version: 1
        project: cbi-v14
        default_location: us-central1
        ops_dataset: {p}raw
        datasets:
          {p}market: {{}}
          {p}raw: {{}}
        tables:
          {p}raw.weather:
            columns:
              - {{name: date, type: DATE, mode: REQUIRED}}
              - {{name: station, type: STRING, mode: REQUIRED}}
              - {{name: wind, type: FLOAT64}}
            expect: {{min_rows: 2, min_distinct: {{station: 1}}}}
          {p}market.prices:
            columns: [{{name: date, type: DATE}}]
        """))
    desired = load_spec(spec, root=tmp_path)
    live = read_snapshot(adapter, desired, now=dt.datetime(2025, 11, 19, 12, tzinfo=dt.timezone.utc))
    online = plan(desired, live, SourceManifest())
    assert {a.kind for a in online.actions} >= {"FlagRecreate", "AddColumns"}
    offline = plan(desired, round_trip(live, tmp_path), SourceManifest())
    assert render_json(offline) == render_json(online)
