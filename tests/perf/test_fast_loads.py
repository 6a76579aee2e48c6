"""Fast loads, against the local BigQuery: a MergeLoad into an empty table is one load job
with WRITE_EMPTY (refused on a table that has rows, and the MERGE path runs instead); a file
the ledger has is recognised by its hash and not gated again; the load sends the private
copy that was hashed."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from reconcile.apply import executor
from reconcile.apply.context import Context
from reconcile.apply.handlers import loads
from reconcile.bq.adapter import Adapter, BigQueryError
from reconcile.demo.data import build_staging
from reconcile.plan.actions import MergeLoad, Plan
from reconcile.plan.names import KEY_RANGES_TABLE
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


def _sent(adapter: Adapter) -> list[tuple[str, str]]:
    """(method, path) of every request the adapter's client sends from now on (a load's
    upload requests marked "?upload")."""
    sent: list[tuple[str, str]] = []

    def hook(response, *a, **k):
        url = response.request.url.split("/projects/")[-1]
        path = url.split("?")[0] + ("?upload" if "uploadType=" in url else "")  # a load's upload
        sent.append((response.request.method, path))
        return response

    adapter.client._http.hooks["response"].append(hook)
    return sent


def _recreate_empty(adapter: Adapter, ref: str) -> None:
    """The table emptied (dropped and made again with its schema: the local BigQuery's
    numRows lags behind a DELETE, docs/emulator.md)."""
    schema = adapter.get_schema(ref)
    adapter.delete_table(ref)
    adapter.create_table(ref, [(f.name, f.field_type, f.mode) for f in schema])


def test_a_file_the_ledger_has_lands_once_in_its_emptied_table(adapter: Adapter, ds_prefix: str,
                                                                tmp_path: Path, staging: Path) -> None:
    """A stale plan: the file was loaded after the plan was made, then its table emptied.
    The empty-table path asks no ledger: WRITE_EMPTY puts the file's rows in once (what the
    next plan would reload), its second ledger row is a reload's, and the warehouse
    converges. It looks at no ops table either: the load, then three INSERT jobs."""
    p = ds_prefix
    desired, merge = setup(adapter, tmp_path, staging, p)
    first = executor.apply(Plan(project="cbi-v14", actions=(merge,)), desired, adapter,
                           run_id=executor.new_run_id()).outcomes[0]
    assert first.status == "done", first
    _recreate_empty(adapter, f"{p}m.vix")
    sent = _sent(adapter)
    o = executor.apply(Plan(project="cbi-v14", actions=(merge,)), desired, adapter,
                       run_id=executor.new_run_id()).outcomes[0]
    assert o.status == "done" and "WRITE_EMPTY" in o.detail, o
    # No query (the ledger lookup is the MERGE path's), no get of an ops table, and three
    # jobs besides the load (key range, ledger row, run record).
    assert not [s for s in sent if s[1].endswith("/queries")], sent
    assert not [s for s in sent if s[0] == "GET" and f"/datasets/{p}ops/tables/" in s[1]], sent
    assert len([s for s in sent if s[0] == "POST" and s[1].endswith("/jobs")]) == 3, sent
    rows = adapter.query(f"SELECT COUNT(*) AS n, COUNT(DISTINCT date) AS d FROM {adapter.q(f'{p}m.vix')}",
                         location="us-central1")[0]
    assert rows["n"] == rows["d"] == merge.rows
    for table in ("load_ledger", "load_key_ranges"):
        got = adapter.query(f"SELECT content_hash FROM {adapter.q(f'{p}ops.{table}')}", location="us-central1")
        assert [r["content_hash"] for r in got] == [merge.content_hash] * 2, table
    assert_converged(adapter, desired)
    # The same stale plan on the table that now has the rows: the ledger is asked, nothing merged.
    again = executor.apply(Plan(project="cbi-v14", actions=(merge,)), desired, adapter,
                           run_id=executor.new_run_id()).outcomes[0]
    assert again.status == "noop" and "ledger" in again.detail, again
    assert adapter.count_rows(f"{p}m.vix") == merge.rows


def test_ops_rows_go_in_without_a_look_and_a_failed_insert_is_never_sent_twice(
        adapter: Adapter, ds_prefix: str, tmp_path: Path, staging: Path) -> None:
    p = ds_prefix
    desired, merge = setup(adapter, tmp_path, staging, p)
    ctx = Context(Plan(project="cbi-v14", actions=()), desired, adapter, "r1")
    row = {"table_ref": f"{p}m.vix", "created_ms": 1, "run_id": "r1",
           "recorded_at": dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)}
    # The table missing: the INSERT fails, the table is made from sql/ops, the rows go in once.
    assert not adapter.table_exists(f"{p}ops.temp_tables")
    assert ctx.insert_ops("temp_tables", [row])
    n = f"SELECT COUNT(*) AS n FROM {adapter.q(f'{p}ops.temp_tables')}"
    assert adapter.query(n, location="us-central1")[0]["n"] == 1
    # Missing when the INSERT ran, made meanwhile by another action (a concurrent load):
    # "not found" wrote nothing, so the rows are sent once more, into the table now there.
    real = adapter.insert_rows_dml
    other_ctx = Context(Plan(project="cbi-v14", actions=()), desired, adapter, "r0")

    def made_meanwhile(*a, **k):
        try:
            return real(*a, **k)
        finally:
            adapter.insert_rows_dml = real
            other_ctx.ops_table(KEY_RANGES_TABLE)

    adapter.insert_rows_dml = made_meanwhile
    try:
        assert not adapter.table_exists(f"{p}ops.{KEY_RANGES_TABLE}")
        assert ctx.insert_ops(KEY_RANGES_TABLE, [{"table_ref": f"{p}m.vix", "source": "s", "content_hash": "h"}])
    finally:
        adapter.insert_rows_dml = real
        del adapter.insert_rows_dml
    got = adapter.query(f"SELECT source FROM {adapter.q(f'{p}ops.{KEY_RANGES_TABLE}')}", location="us-central1")
    assert [r["source"] for r in got] == ["s"]
    # The table there and the INSERT failing (a column it lacks): raised, not sent again.
    inserts = []
    real = adapter.insert_rows_dml
    adapter.insert_rows_dml = lambda *a, **k: inserts.append(a) or real(*a, **k)
    try:
        fresh = Context(Plan(project="cbi-v14", actions=()), desired, adapter, "r2")
        with pytest.raises(BigQueryError):
            fresh.insert_ops("temp_tables", [dict(row, no_such_column=1)])
    finally:
        del adapter.insert_rows_dml
    assert len(inserts) == 1
    assert adapter.query(n, location="us-central1")[0]["n"] == 1
    # No ops dataset and create=False (the run records): nothing made, nothing written.
    other = desired.model_copy(update={"ops_dataset": f"{p}noops"})
    assert not Context(Plan(project="cbi-v14", actions=()), other, adapter, "r3").insert_ops(
        "run_records", [{"run_id": "r3"}], create=False)
    assert adapter.dataset_location(f"{p}noops") is None
