"""An incremental MergeLoad into a table partitioned by one of its keys bounds the target to
the file's range of that key (issues 12 and 16: a MERGE reads the partitions the file can
match, not the whole table), with the same result as an unbounded MERGE.

Data: the demo's real VIX daily series (`reconcile.demo.data`), split by date into an older
part loaded first and the newest 30 days loaded as the increment.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from apply_helpers import VIX_COLUMNS, apply_plan, assert_converged, checksum, copy_staging, make_plan, write_spec
from reconcile.apply.handlers.loads import merge_sql
from reconcile.bq.adapter import Adapter, param
from reconcile.plan.actions import MergeLoad

pytestmark = pytest.mark.integration


def spec(p: str, source: str) -> str:
    return f"""\
        version: 1
        project: cbi-v14
        default_location: us-central1
        ops_dataset: {p}ops
        datasets:
          {p}raw: {{}}
          {p}ops: {{}}
        tables:
          {p}raw.vix_daily: {{partition_by: date, partition_granularity: YEAR, columns: {VIX_COLUMNS}}}
        loads:
          - {{source: {source}, table: {p}raw.vix_daily, keys: [date]}}
        """


def test_merge_sql_bounds_the_target_only_by_a_partitioning_key():
    a = MergeLoad(table="d.t", source="staging/x.parquet", content_hash="h", rows=1, keys=("date",),
                  columns=(("date", "DATE"), ("close", "FLOAT64")))
    assert "T.`date` BETWEEN @prune_lo AND @prune_hi" in merge_sql("cbi-v14", a, "d._tmp", "date")
    assert "BETWEEN" not in merge_sql("cbi-v14", a, "d._tmp")


def test_an_increment_merges_into_its_partitions_only_and_changes_nothing_else(
        adapter: Adapter, ds_prefix: str, project_root: Path, staging_src: Path) -> None:
    p = ds_prefix
    copy_staging(staging_src, project_root, ["vix_daily.parquet"])
    full = pq.read_table(project_root / "staging" / "vix_daily.parquet")
    cut = pc.sort_indices(full, [("date", "ascending")])
    full = full.take(cut)
    old, new = full.slice(0, full.num_rows - 30), full.slice(full.num_rows - 30)
    pq.write_table(old, project_root / "staging" / "vix_old.parquet")
    pq.write_table(new, project_root / "staging" / "vix_new.parquet")

    desired = write_spec(project_root, spec(p, "staging/vix_old.parquet"))
    assert apply_plan(adapter, desired, make_plan(adapter, desired)[0]).ok
    before = checksum(adapter, f"{p}raw.vix_daily")
    assert before[0] == old.num_rows

    desired = write_spec(project_root, spec(p, "staging/vix_new.parquet"))
    plan, _ = make_plan(adapter, desired)
    result = apply_plan(adapter, desired, plan)
    load = next(o for o in result.outcomes if o.kind == "MergeLoad")
    assert load.status == "done" and load.observed["inserted"] == 30 and load.observed["updated"] == 0, load.detail
    # The older rows are exactly as they were; the table now holds the whole real series.
    lo = new.column("date")[0].as_py()
    older = adapter.query(f"SELECT COUNT(*) AS n FROM {adapter.q(p + 'raw.vix_daily')} WHERE date < @d",
                          [param("d", lo)])
    assert older == [{"n": old.num_rows}]
    assert checksum(adapter, f"{p}raw.vix_daily")[0] == full.num_rows
    assert_converged(adapter, desired)
