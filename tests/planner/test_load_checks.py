"""The planner's load checks on the table itself (reconcile.plan.compare.loads), pure: the
`loads` golden scenario's spec, snapshot and sources, with the snapshot's load checks
(measured in the batched observations, reconcile.snapshot.loadchecks) and ledger set
per case.

- a target holding duplicate keys blocks its MergeLoad, naming table, keys and count
  (issue 13; FINDINGS.md F2);
- a file in the ledger whose key range the table no longer fills is merged again, with
  the reason "N rows of FILE missing from TABLE" (issue 18, "Tables over ledgers").
"""

from __future__ import annotations

from reconcile.plan.actions import MergeLoad
from reconcile.plan.planner import plan
from reconcile.snapshot.model import LedgerEntry, Snapshot
from reconcile.spec.load import load_spec

from test_scenarios import BASE, ROOT, _sources

PRICES, SOURCE = "market_data.prices", "staging/prices.parquet"


def _plan(load_checks: dict, ledger: list[LedgerEntry] | None = None):
    desired = load_spec(BASE / "spec.yaml", root=BASE)
    snap = Snapshot.load(ROOT / "loads" / "snapshot.json")
    update: dict = {"load_checks": load_checks}
    if ledger is not None:
        update["ledger"] = [e for e in snap.ledger if e.table != PRICES] + ledger
    return plan(desired, snap.model_copy(update=update), _sources(ROOT / "loads"))


def _prices(p) -> MergeLoad | None:
    return next((a for a in p.actions if isinstance(a, MergeLoad) and a.table == PRICES), None)


def _loaded(**keys) -> LedgerEntry:
    """The ledger row of the current prices file (the sources' content hash 1111...)."""
    return LedgerEntry(table=PRICES, source=SOURCE, content_hash="1" * 64, rows=150, **keys)


def test_duplicate_keys_in_the_target_block_the_merge_naming_table_keys_and_count():
    clean = _plan({PRICES: {"rows": 150, "load_keys:date,symbol": 150}})
    assert _prices(clean).blocked_by == () and _prices(clean) in clean.changes
    p = _plan({PRICES: {"rows": 150, "load_keys:date,symbol": 147}})
    a = _prices(p)
    assert a.is_blocked and p.exit_code() == 3 and a not in p.changes
    assert a.blocked_by[-1].startswith("market_data.prices already holds duplicate keys on (date, symbol): "
                                       "3 rows repeat a key another row has")


def test_a_loaded_file_missing_rows_from_its_table_is_merged_again_with_the_reason():
    entry = _loaded(key_column="date", key_min="2020-01-01", key_max="2020-12-31", key_rows=150)
    # The table still holds every key of the file's range: loaded, nothing to do.
    assert _prices(_plan({PRICES: {"rows": 150, "load_keys:date,symbol": 150,
                                   f"load_range:{SOURCE}": 150}}, [entry])) is None
    # 50 keys of the range gone (deleted outside the tool): merged again, saying why.
    p = _plan({PRICES: {"rows": 100, "load_keys:date,symbol": 100, f"load_range:{SOURCE}": 100}}, [entry])
    a = _prices(p)
    assert a is not None and a in p.changes and not a.blocked_by
    assert a.reload == "50 rows of staging/prices.parquet missing from market_data.prices"
    # Rows of the range that are not the file's (added by hand) never make it look missing.
    assert _prices(_plan({PRICES: {"rows": 180, f"load_range:{SOURCE}": 170}}, [entry])) is None


def test_a_ledger_without_key_ranges_keeps_meaning_loaded():
    # A ledger written before the key columns (key_rows None): the file counts as loaded.
    assert _prices(_plan({PRICES: {"rows": 0, "load_keys:date,symbol": 0}}, [_loaded()])) is None
    # A range recorded on another first key (the spec's keys changed since): not compared.
    other = _loaded(key_column="symbol", key_min="A", key_max="Z", key_rows=150)
    assert _prices(_plan({PRICES: {"rows": 0, f"load_range:{SOURCE}": 0}}, [other])) is None


# ---------------------------------------------------------------- declared precedence

PREC_SPEC = """\
version: 1
project: demo-project
default_location: us-central1
ops_dataset: ops
datasets:
  raw: {}
  ops: {}
tables:
  raw.prices:
    columns:
      - {name: date, type: DATE, mode: REQUIRED}
      - {name: close, type: FLOAT64}
loads:
  - {source: staging/vendor_b.parquet, table: raw.prices, keys: [date], precedence: 2}
  - {source: staging/vendor_a.parquet, table: raw.prices, keys: [date], precedence: 1}
"""


def _prec_plan(tmp_path, a_hash: str):
    from reconcile.snapshot.model import ColumnState, DatasetState, TableState
    from reconcile.spec.sources import SourceFile, SourceManifest

    (tmp_path / "spec.yaml").write_text(PREC_SPEC)
    desired = load_spec(tmp_path / "spec.yaml", root=tmp_path)
    cols = (("date", "DATE"), ("close", "FLOAT64"))
    snap = Snapshot(project="demo-project", taken_at="2025-11-19T12:00:00+00:00",
                    datasets={"raw": DatasetState(location="us-central1"),
                              "ops": DatasetState(location="us-central1")},
                    tables={"raw.prices": TableState(rows=20, columns=[
                        ColumnState(name="date", type="DATE", mode="REQUIRED"),
                        ColumnState(name="close", type="FLOAT64", mode="NULLABLE")])},
                    ledger=[LedgerEntry(table="raw.prices", source="staging/vendor_a.parquet",
                                        content_hash="a" * 64, rows=10),
                            LedgerEntry(table="raw.prices", source="staging/vendor_b.parquet",
                                        content_hash="b" * 64, rows=10)])
    sources = SourceManifest((
        SourceFile(source="staging/vendor_a.parquet", table="raw.prices", exists=True, rows=10,
                   columns=cols, content_hash=a_hash),
        SourceFile(source="staging/vendor_b.parquet", table="raw.prices", exists=True, rows=10,
                   columns=cols, content_hash="b" * 64)))
    return plan(desired, snap, sources)


def test_a_changed_lower_precedence_file_merges_the_higher_one_again_after_it(tmp_path):
    """Issue 18: a declared precedence used to let overlapping files load in spec order, and a
    changed lower file was merged alone, over the higher file's rows."""
    assert not [a for a in _prec_plan(tmp_path, "a" * 64).actions if isinstance(a, MergeLoad)]
    loads = [a for a in _prec_plan(tmp_path, "c" * 64).changes if isinstance(a, MergeLoad)]
    assert [a.source for a in loads] == ["staging/vendor_a.parquet", "staging/vendor_b.parquet"]
    assert loads[0].reload is None
    assert loads[1].reload == ("merged again after staging/vendor_a.parquet, which has a lower precedence: "
                               "staging/vendor_b.parquet wins where their keys overlap")
