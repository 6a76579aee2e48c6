"""The data work's SQL, checked without BigQuery: generated files are current, the
monitoring views are written in the form the local BigQuery stores, and the spec
declares every transform and view this work adds."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import sqlglot

from reconcile.demo import sqlgen
from reconcile.plan.compare.views import normalize_view_sql
from reconcile.spec.load import load_spec

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "desired_state" / "cbi-v14.yaml"
VIEWS = sorted((ROOT / "sql" / "views").glob("*.sql"))


@pytest.fixture(scope="module")
def desired():
    return load_spec(SPEC)


def test_generated_files_are_current(desired) -> None:
    stale = [str(p.relative_to(ROOT)) for p, text in sqlgen.generated_files(desired).items()
             if p.read_text(encoding="utf-8") != text]
    assert not stale, f"regenerate with: python -m reconcile.demo.sqlgen ({', '.join(stale)})"


def test_master_features_columns_are_source_prefixed(desired) -> None:
    m = desired.transforms["master_features"].features
    source = [c for c in m.columns() if c.family == "source"]
    prefixes = ("yahoo_", "fred_", "weather_", "vix_", "us_macro_")
    assert all(c.name.startswith(prefixes) for c in source), [c.name for c in source if not c.name.startswith(prefixes)]
    # The arithmetic docs/master_features.md gives: 2 symbols x 6 fields, 4 FRED series,
    # 1 station x 5 fields, the VIX close, 12 quarterly US macro aggregates.
    assert len(source) == 2 * 6 + 4 + 5 + 1 + 12 == 34
    sql = (ROOT / "sql" / "transforms" / "master_features.sql").read_text(encoding="utf-8")
    for c in m.columns():
        assert re.search(rf"^  {c.name} {c.type},?$", sql, re.M), c.name
    assert len(m.columns()) + 1 >= 400  # the migration plan's gate, from declared families
    assert "cftc" not in {c.name.split("_")[0] for c in m.columns()}


def test_master_features_doc_shows_the_count_by_family(desired) -> None:
    """docs/master_features.md's table of columns by family is the spec's: it cannot drift."""
    m = desired.transforms["master_features"].features
    doc = (ROOT / "docs" / "master_features.md").read_text(encoding="utf-8")
    rows = dict(re.findall(r"^\| `([a-z_]+)` \| [^|]+ \| \*\*(\d+)\*\* \|$", doc, re.M))
    assert {f: int(n) for f, n in rows.items()} == m.by_family()
    total = re.search(r"^Total: \*\*(\d+) columns\*\*", doc, re.M)
    assert total and int(total.group(1)) == len(m.columns()) + 1
    # The README's figures too.
    readme = " ".join((ROOT / "README.md").read_text(encoding="utf-8").split())
    source = m.by_family()["source"]
    assert (f"on the demo, {len(m.columns()) + 1} columns ({source} source columns and "
            f"{len(m.columns()) - source} engineered ones") in readme


@pytest.mark.parametrize("path", VIEWS, ids=lambda p: p.name)
def test_view_is_in_the_form_the_local_bigquery_stores(path: Path) -> None:
    """The emulator keeps a view's body re-printed by sqlglot (comments as /* */,
    STRPOS as INSTR, `x IS NOT NULL` as `NOT x IS NULL`, ...): a file in another form
    would be re-planned as changed after every apply (docs/monitoring.md)."""
    text = path.read_text(encoding="utf-8").strip().rstrip(";").strip()
    canonical = sqlglot.parse_one(text, read="bigquery").sql(dialect="bigquery")
    assert normalize_view_sql(canonical) == normalize_view_sql(text)
    assert "'s " not in text.split("*/", 1)[0], "an apostrophe in the header comment"


@pytest.mark.parametrize("path", VIEWS, ids=lambda p: p.name)
def test_view_names_tables_dataset_qualified(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    body = text.split("*/", 1)[1]
    for ref in re.findall(r"\b(?:FROM|JOIN)\s+([`\w.]+)", body):
        if ref in ("by_regime", "ledger", "problems", "problem_summary") or ref.startswith("("):
            continue
        assert "." in ref.strip("`"), f"{path.name}: {ref} is not dataset-qualified"


def test_spec_declares_the_data_work(desired) -> None:
    assert set(desired.views) == {f"monitoring.{n}" for n in (
        "data_quality", "ingestion_health", "table_row_counts", "date_coverage", "regime_distribution")}
    scheduled = {n: t for n, t in desired.transforms.items() if t.schedule}
    assert set(scheduled) == {"daily_feature_aggregates", "assign_regimes", "market_signals",
                              "hidden_relationship_signals"}
    for name, tr in scheduled.items():
        assert tr.inputs and tr.outputs, name
        assert "DECLARE run_date DATE" in desired.path(tr.sql).read_text(encoding="utf-8"), name
    mf = desired.transforms["master_features"]
    assert mf.schedule is None and mf.outputs == ["features.master_features", "features.master_features_lineage"]
    assert mf.features is not None and mf.features.target == "features.master_features"
    exp = desired.expectations_for("features.master_features")
    assert exp.min_columns == 400 and exp.coverage is not None and exp.placeholders


def test_ops_tables_declared_as_the_executor_creates_them(desired) -> None:
    """The views read ops.run_records and ops.load_ledger, so the spec declares them;
    their columns must be exactly the executor's (sql/ops/*.sql)."""
    for name in ("run_records", "load_ledger"):
        ddl = (ROOT / "sql" / "ops" / f"{name}.sql").read_text(encoding="utf-8")
        cols = re.findall(r"^\s+`?(\w+)`?\s+([A-Z0-9]+),?$", ddl, re.M)
        declared = [(n, t) for n, t, _ in desired.columns_of(f"ops.{name}")]
        assert declared == cols, name
