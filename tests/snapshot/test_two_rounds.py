"""read_snapshot reads in at most two rounds after the dataset list (issue 16), against the
local BigQuery: the same snapshot as a read in strict sequence, on a warehouse with every
kind of thing it reads (ops tables with key ranges, expectations, a load target, views, a
partitioned table, a temporary table the tool made); the rounds counted from when each
request was sent and answered; PARTITIONS redone with fewer tables when BigQuery refuses a
query over too many (through the strict BigQuery layer, which answers BigQuery's error) or
when TABLES shows more than one query may read; a missing ops table read as no rows, any
other failure of an ops read raised.
"""

from __future__ import annotations

import datetime as dt
import textwrap
import threading
import time
from pathlib import Path

import pytest

from reconcile.bq.adapter import Adapter, BigQueryError, local_client
from reconcile.bq.sqltext import qtable, render_sql
from reconcile.snapshot import read as snap
from reconcile.snapshot.model import TMP_PREFIX
from reconcile.snapshot.read import read_snapshot
from reconcile.spec.load import load_spec
from tests.conftest import PROJECT
from tests.integration.test_snapshot import NOW, build_warehouse
from tests.support.loopback_proxy import LoopbackProxy

pytestmark = pytest.mark.integration


def spec(root: Path, p: str):
    (root / "sql").mkdir(exist_ok=True)
    (root / "sql" / "latest.sql").write_text("SELECT 1 AS x\n")
    path = root / "desired_state" / "spec.yaml"
    path.write_text(textwrap.dedent(f"""\
        version: 1
        project: cbi-v14
        default_location: us-central1
        ops_dataset: {p}ops
        datasets:
          {p}market: {{location: us-central1}}
          {p}ops: {{location: us-central1}}
          {p}eu: {{location: EU}}
        tables:
          {p}market.prices:
            columns:
              - {{name: date, type: DATE}}
              - {{name: symbol, type: STRING}}
              - {{name: close, type: FLOAT64}}
              - {{name: regime, type: STRING}}
            expect:
              min_rows: 3
              min_distinct: {{symbol: 2}}
              ranges: {{close: {{min: 0, max: 1000}}}}
        views:
          {p}market.latest: {{sql: sql/latest.sql}}
        loads:
          - {{source: staging/yahoo.parquet, table: {p}market.prices, keys: [date, symbol]}}
        expectations:
          "{p}market.weights_*": {{min_columns: 2}}
          "{p}eu.*": {{min_rows: 1}}
        """))
    return load_spec(path, root=root)


def full_warehouse(adapter: Adapter, p: str) -> None:
    """build_warehouse (two regions, views, a snapshot, ledger, checkpoints) plus key ranges
    of the ledger's files, a partitioned table with rows in two partitions, and a table
    under a temporary-table name that ops records as the tool's."""
    build_warehouse(adapter, p)
    loc = "us-central1"
    for name, file in (("load_key_ranges", "ops/load_key_ranges.sql"), ("temp_tables", "ops/temp_tables.sql")):
        adapter.execute(render_sql(file, table=qtable(adapter.project, f"{p}ops", name)), location=loc)
    t1 = dt.datetime(2025, 11, 18, 10, 0, tzinfo=dt.timezone.utc)
    adapter.insert_rows_dml(f"{p}ops.load_key_ranges", [
        {"table_ref": f"{p}market.prices", "source": "staging/yahoo.parquet", "content_hash": "def456",
         "key_column": "date", "key_min": "2000-01-03", "key_max": "2024-12-31", "key_rows": 4,
         "recorded_at": t1, "run_id": "run-2"}], location=loc)
    adapter.execute(f"CREATE TABLE {adapter.q(f'{p}market.daily')} (date DATE, v INT64) PARTITION BY date",
                    location=loc)
    adapter.execute(f"INSERT INTO {adapter.q(f'{p}market.daily')} (date, v) VALUES "
                    "(DATE '2024-12-30', 1), (DATE '2024-12-31', 2), (DATE '2024-12-31', 3)", location=loc)
    tmp = f"{p}market.{TMP_PREFIX}prices_1"
    adapter.create_table(tmp, [("id", "INT64", "NULLABLE")])
    adapter.insert_rows_dml(f"{p}ops.temp_tables", [{"table_ref": tmp, "created_ms": adapter.table_created_ms(tmp),
                                                     "run_id": "run-2", "recorded_at": t1}], location=loc)


class Timeline:
    """When each request was sent and answered (a response hook on the client's session:
    the answer's time, less the time the request took)."""

    def __init__(self, adapter: Adapter) -> None:
        self.spans: list[tuple[float, float, str]] = []
        self._mu = threading.Lock()
        adapter.client._http.hooks["response"].append(self.hook)

    def hook(self, response, *args, **kwargs):
        end = time.monotonic()
        with self._mu:
            self.spans.append((end - response.elapsed.total_seconds(), end, response.request.method))
        return response

    def rounds(self) -> int:
        """The longest chain of requests each sent after the previous one was answered: how
        many times the read waited for an answer before sending more."""
        spans = sorted(self.spans)
        depth: list[int] = []
        for i, (start, _, _) in enumerate(spans):
            depth.append(1 + max((depth[j] for j in range(i) if spans[j][1] <= start), default=0))
        return max(depth, default=0)


def test_two_rounds_and_the_same_snapshot_as_in_sequence(emulator, ds_prefix: str, project_root: Path) -> None:
    p = ds_prefix
    desired = spec(project_root, p)
    full_warehouse(Adapter(local_client(PROJECT, emulator.endpoint), PROJECT, emulator=True), p)
    # Every query held 0.3 s (BigQuery's latency, scaled down): those of one round overlap.
    with LoopbackProxy(emulator.endpoint, job_latency=0.3) as proxy:
        adapter = Adapter(local_client(PROJECT, proxy.endpoint), PROJECT, emulator=True)
        timeline = Timeline(adapter)
        s = read_snapshot(adapter, desired, now=NOW, parallelism=10)
        seq_adapter = Adapter(local_client(PROJECT, proxy.endpoint), PROJECT, emulator=True)
        seq_timeline = Timeline(seq_adapter)
        seq = read_snapshot(seq_adapter, desired, now=NOW, parallelism=1)

    assert s == seq
    # what the read needs from each round is there
    assert s.tables[f"{p}market.daily"].rows == 3
    assert s.tables[f"{p}market.prices"].rows == 5 and s.tables[f"{p}eu.events"].rows == 2
    assert "MAX(date)" in s.tables[f"{p}market.latest"].view_sql
    e = s.ledger[1]
    assert (e.content_hash, e.key_column, e.key_min, e.key_max, e.key_rows) == (
        "def456", "date", "2000-01-03", "2024-12-31", 4)
    assert s.load_checks[f"{p}market.prices"]["load_range:staging/yahoo.parquet"] == 4
    assert s.observations[f"{p}market.prices"]["distinct:symbol"] == 3
    assert s.observations[f"{p}eu.events"] == {"rows": 2}
    assert s.checkpoints == {f"{p}eu": "verified_copy", f"{p}legacy": "copied_out"}
    assert s.own_temp_tables == [f"{p}market.{TMP_PREFIX}prices_1"]
    # list + round A + round B, although the key ranges exist and a load target does (round A's
    # 10 queries fit the default parallelism of 10)
    assert timeline.rounds() == 3, sorted(timeline.spans)
    assert seq_timeline.rounds() == len(seq_timeline.spans) == seq.requests
    # 1 list + round A: TABLES 3, PARTITIONS 3, COLUMNS 1 (market), VIEWS 1 (market), the
    # ledger with its key ranges, checkpoints + round B: temporary tables, observations 2
    # (us-central1, EU)
    assert s.requests == 1 + 3 + 3 + 1 + 1 + 2 + 1 + 2


def test_partitions_redone_when_bigquery_refuses_too_many_tables(
        strict, ds_prefix: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A chunk of datasets over PARTITIONS' bound of tables: BigQuery refuses the round-A query
    ('attempted to read too many tables'; the strict layer answers it, here with the bound
    lowered to 3 on both sides); round B reads it in parts of at most 3 tables."""
    import tests.support.strict_bigquery as sb

    sad = Adapter(local_client(PROJECT, strict.endpoint), PROJECT, emulator=True, retry_delay=0.05)
    sad.create_dataset(f"{ds_prefix}d", "US")
    for i in range(5):
        sad.create_table(f"{ds_prefix}d.t{i}", [("x", "INT64", "NULLABLE")])
    sad.insert_rows_dml(f"{ds_prefix}d.t4", [{"x": 1}, {"x": 2}])
    monkeypatch.setattr(sb, "MAX_TABLES_PER_QUERY", 3)
    monkeypatch.setattr(snap, "PARTITIONS_MAX_TABLES", 3)
    timeline = Timeline(sad)
    s = read_snapshot(sad, None)
    assert [s.tables[f"{ds_prefix}d.t{i}"].rows for i in range(5)] == [0, 0, 0, 0, 2]
    assert [r for r in strict.strict.refused if r.startswith("R5")], strict.strict.refused
    # list + TABLES, PARTITIONS (refused), COLUMNS, VIEWS + PARTITIONS of 3 and 2 tables
    assert s.requests == 1 + 4 + 2
    assert timeline.rounds() <= 3


def test_partitions_over_the_bound_are_not_trusted(adapter: Adapter, ds_prefix: str,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """A round-A PARTITIONS answer over a chunk TABLES shows holding more tables than one
    query may read is not used (BigQuery documents the bound, not what a query over it
    returns): the chunk is read again in parts, and the rows are right."""
    adapter.create_dataset(f"{ds_prefix}d", "US")
    for i in range(5):
        adapter.create_table(f"{ds_prefix}d.t{i}", [("x", "INT64", "NULLABLE")])
    adapter.insert_rows_dml(f"{ds_prefix}d.t0", [{"x": 1}])
    whole = read_snapshot(adapter, None)
    monkeypatch.setattr(snap, "PARTITIONS_MAX_TABLES", 3)
    parts = read_snapshot(adapter, None)
    assert parts.tables == whole.tables and whole.tables[f"{ds_prefix}d.t0"].rows == 1
    assert parts.requests == whole.requests + 2  # the chunk again, in 2 parts of at most 3 tables


def test_missing_ops_tables_read_as_none_other_failures_raise(adapter: Adapter, ds_prefix: str,
                                                              project_root: Path) -> None:
    """The ops reads go out before TABLES says which ops tables exist: 'Not found: Table'
    is no rows; an ops table that fails otherwise (here a ledger without its columns) is an
    error, as before."""
    p = ds_prefix
    desired = spec(project_root, p)
    adapter.create_dataset(f"{p}ops", "us-central1")
    s = read_snapshot(adapter, desired)
    assert s.ledger == [] and s.checkpoints == {} and s.own_temp_tables == []
    assert s.requests == 1 + 2 + 2  # list, TABLES, PARTITIONS; ledger with key ranges, checkpoints (404)
    adapter.create_table(f"{p}ops.load_ledger", [("table_ref", "STRING", "NULLABLE")])
    with pytest.raises(BigQueryError, match="ledger"):
        read_snapshot(adapter, desired)


# ------------------------------------------------------------- pure helpers (no emulator)

def test_speculative_reads_recognise_only_their_own_failure() -> None:
    """The two answers a speculative read expects, in BigQuery's words (its documentation's
    PARTITIONS message; a missing table's 404), as the adapter raises them; anything else,
    or another table's 404, is raised."""
    from reconcile.snapshot.rounds import speculative, table_missing, too_many_tables

    refused = BigQueryError("snapshot PARTITIONS (US, 3 datasets) failed: INFORMATION_SCHEMA.PARTITIONS query "
                            "attempted to read too many tables. Please add more restrictive filters.")
    missing = BigQueryError("snapshot load ledger failed: Not found: Table cbi-v14:ops.load_ledger was not "
                            "found in location US")
    other = BigQueryError("snapshot load ledger failed: Unrecognized name: run_id at [1:40]")
    assert too_many_tables(refused) and not too_many_tables(missing)
    assert table_missing(missing, "ops", "load_ledger")
    assert not table_missing(missing, "ops", "load_key_ranges") and not table_missing(other, "ops", "load_ledger")
    no_dataset = BigQueryError("x failed: Not found: Dataset cbi-v14:ops was not found in location US")
    assert not table_missing(no_dataset, "ops", "load_ledger")

    def fails(e: Exception):
        def call():
            raise e
        return call

    assert speculative(fails(missing), lambda e: table_missing(e, "ops", "load_ledger"), [])() == []
    with pytest.raises(BigQueryError, match="Unrecognized name"):
        speculative(fails(other), lambda e: table_missing(e, "ops", "load_ledger"), [])()
