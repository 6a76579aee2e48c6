"""Fast loads, against the local BigQuery: a MergeLoad into an empty table is one load job
with WRITE_EMPTY (refused on a table that has rows, and the MERGE path runs instead); a file
the ledger has is recognised by its hash and not gated again; the load sends the private
copy that was hashed."""

from __future__ import annotations

import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from reconcile.apply import executor
from reconcile.apply.context import Context
from reconcile.apply.handlers import loads
from reconcile.bq.adapter import Adapter
from reconcile.demo.data import build_staging
from reconcile.plan.actions import MergeLoad, Plan
from reconcile.spec import sources as S

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "apply"))
from apply_helpers import VIX_COLUMNS, assert_converged, copy_staging, make_plan, write_spec  # noqa: E402

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def staging(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("staging")
    build_staging(out)
    return out


def setup(adapter: Adapter, root: Path, staging: Path, p: str, placeholders: str = ""):
    copy_staging(staging, root, ["vix_daily.parquet"])
    desired = write_spec(root, f"""\
        version: 1
        project: cbi-v14
        default_location: us-central1
        ops_dataset: {p}ops
        datasets: {{{p}m: {{}}, {p}ops: {{}}}}
        tables:
          {p}m.vix: {{columns: {VIX_COLUMNS}}}
        loads:
          - {{source: staging/vix_daily.parquet, table: {p}m.vix, keys: [date]{placeholders}}}
        """)
    p0, _ = make_plan(adapter, desired)
    executor.apply(Plan(project=p0.project, actions=tuple(a for a in p0.actions if not isinstance(a, MergeLoad))),
                   desired, adapter, run_id=executor.new_run_id())
    plan, snap = make_plan(adapter, desired)
    merge = next(a for a in plan.actions if isinstance(a, MergeLoad))
    return desired, merge


def test_merge_into_an_empty_table_is_one_write_empty_load(adapter: Adapter, ds_prefix: str, tmp_path: Path,
                                                          staging: Path) -> None:
    p = ds_prefix
    desired, merge = setup(adapter, tmp_path, staging, p)
    rows = pq.read_metadata(staging / "vix_daily.parquet").num_rows
    counted: list[str] = []
    real_count = adapter.count_rows
    adapter.count_rows = lambda ref, *a, **k: counted.append(ref) or real_count(ref, *a, **k)
    try:
        result = executor.apply(Plan(project="cbi-v14", actions=(merge,)), desired, adapter,
                                run_id=executor.new_run_id())
    finally:
        del adapter.count_rows
    o = result.outcomes[0]
    assert o.status == "done" and "WRITE_EMPTY" in o.detail, o
    # no COUNT query: the table's resource said empty, the job's output rows are the proof
    assert counted == []
    assert o.observed["inserted"] == rows and adapter.count_rows(f"{p}m.vix") == rows
    # the file's ledger row (with its hash) and its key range (recorded while it loaded), once each
    for table in ("load_ledger", "load_key_ranges"):
        got = adapter.query(f"SELECT content_hash FROM {adapter.q(f'{p}ops.{table}')}", location="us-central1")
        assert [r["content_hash"] for r in got] == [merge.content_hash], table
    assert_converged(adapter, desired)  # the ledger has it: nothing to load again


def test_write_empty_is_refused_on_a_table_with_rows_and_the_merge_runs(
        adapter: Adapter, ds_prefix: str, tmp_path: Path, staging: Path) -> None:
    p = ds_prefix
    desired, merge = setup(adapter, tmp_path, staging, p)
    adapter.execute(f"INSERT INTO {adapter.q(f'{p}m.vix')} (date, vix_close) VALUES ('1990-01-02', 17.24)",
                    location="us-central1")
    ctx = Context(Plan(project="cbi-v14", actions=(merge,)), desired, adapter, "r1")
    raw = S.private_copy(desired.path(merge.source))
    # rows appeared after the count: BigQuery refuses the WRITE_EMPTY job, nothing is written
    assert loads._into_empty(ctx, merge, desired.path(merge.source), raw, "us-central1") is None
    assert adapter.count_rows(f"{p}m.vix") == 1
    o = executor.apply(Plan(project="cbi-v14", actions=(merge,)), desired, adapter,
                       run_id=executor.new_run_id()).outcomes[0]
    assert o.status == "done" and "merged" in o.detail and o.observed["rows_before"] == 1, o
    assert adapter.count_rows(f"{p}m.vix") == merge.rows + 1
    # The local BigQuery's numRows still says 0 after that INSERT (docs/emulator.md), so
    # the handler tried WRITE_EMPTY first: refused, then merged; the key range recorded
    # while the refused load ran is the one the MERGE path kept (not recorded twice).
    assert adapter.client.get_table(adapter.table_id(f"{p}m.vix")).num_rows == 0
    ranges = adapter.query(f"SELECT content_hash FROM {adapter.q(f'{p}ops.load_key_ranges')}",
                           location="us-central1")
    assert [r["content_hash"] for r in ranges] == [merge.content_hash]


def test_a_loaded_file_is_known_by_its_hash_and_not_gated_again(adapter: Adapter, ds_prefix: str,
                                                               tmp_path: Path, staging: Path) -> None:
    p = ds_prefix
    desired, merge = setup(adapter, tmp_path, staging, p)
    executor.apply(Plan(project="cbi-v14", actions=(merge,)), desired, adapter, run_id=executor.new_run_id())
    _, snap = make_plan(adapter, desired)
    calls = []
    real = S._key_problems
    try:
        S._key_problems = lambda *a: calls.append(a) or real(*a)
        known = S.read_sources(desired, snap.loaded)
        assert not calls  # no gate read the rows
        fresh = S.read_sources(desired)
        assert len(calls) == 1
    finally:
        S._key_problems = real
    assert known.files[0].content_hash == fresh.files[0].content_hash == merge.content_hash
    assert known.files[0].rows == fresh.files[0].rows and known.files[0].columns == fresh.files[0].columns
    merged = S.gate_unloaded(desired, S.read_sources_unchecked(desired), snap.loaded)
    assert merged.files[0].problems == ()


def test_the_load_sends_the_private_copy_that_was_hashed(adapter: Adapter, ds_prefix: str, tmp_path: Path,
                                                        staging: Path) -> None:
    p = ds_prefix
    desired, merge = setup(adapter, tmp_path, staging, p)
    path = desired.path(merge.source)
    seen = []
    real = S.private_copy

    def copy_then_swap(pth: Path) -> bytes:
        raw = real(pth)
        seen.append(pth)
        pth.write_bytes(b"not parquet any more")  # swapped on disk after the one read
        return raw

    try:
        loads.private_copy = copy_then_swap
        o = executor.apply(Plan(project="cbi-v14", actions=(merge,)), desired, adapter,
                           run_id=executor.new_run_id()).outcomes[0]
    finally:
        loads.private_copy = real
    assert seen == [path]
    assert o.status == "done", o  # the copy that was hashed is the one loaded
    assert adapter.count_rows(f"{p}m.vix") == merge.rows
