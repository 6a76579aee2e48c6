"""The regime calendar's file gates: a gap, an overlap, a weight out of range,
fewer than 7 regimes — each a precise error naming the dates and rows."""

import shutil
from pathlib import Path

import pytest

from reconcile.spec.sources import inspect_source
from reconcile.spec.load import load_spec

REPO = Path(__file__).resolve().parents[2]
SEEDS = REPO / "desired_state" / "seeds"


@pytest.fixture
def spec_root(tmp_path):
    shutil.copytree(REPO / "desired_state", tmp_path / "desired_state")
    shutil.copytree(REPO / "sql", tmp_path / "sql")
    (tmp_path / "pyproject.toml").write_text("")
    return tmp_path


def gate(root: Path, table: str) -> tuple[str, ...]:
    d = load_spec(root / "desired_state" / "cbi-v14.yaml")
    i, ld = next((i, ld) for i, ld in enumerate(d.loads) if ld.table == table)
    return inspect_source(d, ld, i).problems


def edit(root: Path, name: str, old: str, new: str) -> None:
    p = root / "desired_state" / "seeds" / name
    text = p.read_text()
    assert old in text
    p.write_text(text.replace(old, new))


def test_shipped_calendar_and_weights_pass(spec_root):
    assert gate(spec_root, "regimes.regime_calendar") == ()
    assert gate(spec_root, "regimes.regime_weights") == ()


def test_gap_is_reported_with_dates_and_rows(spec_root):
    edit(spec_root, "regime_calendar.csv", "oil_glut,2014-06-21", "oil_glut,2014-07-01")
    assert gate(spec_root, "regimes.regime_calendar") == (
        "gap: 2014-06-21 to 2014-06-30 between 'qe_recovery' (row 5) and 'oil_glut' (row 6)",)


def test_overlap_is_reported_with_dates_and_rows(spec_root):
    edit(spec_root, "regime_calendar.csv", "covid_shock,2020-02-20", "covid_shock,2020-02-01")
    assert gate(spec_root, "regimes.regime_calendar") == (
        "overlap: 2020-02-01 to 2020-02-19 is in both 'late_cycle_expansion' (row 7) and 'covid_shock' (row 8)",)


def test_uncovered_end_is_a_gap(spec_root):
    edit(spec_root, "regime_calendar.csv", "easing_cycle,2024-09-18,2025-12-31", "easing_cycle,2024-09-18,2025-06-30")
    assert gate(spec_root, "regimes.regime_calendar") == (
        "gap: 2025-07-01 to 2025-12-31 is after the last interval 'easing_cycle' (row 12)",)


def test_weight_out_of_range(spec_root):
    edit(spec_root, "regime_weights.csv", "easing_cycle,1000", "easing_cycle,1500")
    assert gate(spec_root, "regimes.regime_weights") == (
        "column training_weight: value 1500 at row 12 outside 50..1000",)


def test_fewer_than_seven_regimes(spec_root):
    p = spec_root / "desired_state" / "seeds" / "regime_calendar.csv"
    lines = p.read_text().splitlines()
    # Keep six regimes, the last stretched to the horizon so the tiling still holds.
    kept = lines[:6] + [lines[6].replace("2016-02-11", "2025-12-31", 1).replace("oil_glut,2014-06-21,2016-02-11", "oil_glut,2014-06-21,2025-12-31")]
    p.write_text("\n".join(kept[:6] + [kept[6]]) + "\n")
    problems = gate(spec_root, "regimes.regime_calendar")
    assert problems == ("column regime: 6 distinct value(s), at least 7 required",)
