"""Helpers shared by the apply tests (and the crash runner): specs written into a
temporary project, real staging files, plan -> apply -> re-plan, content checksums.

Nothing here mocks BigQuery: every call goes to the session's local emulator.
"""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path
from typing import Iterable

import pyarrow as pa
import pyarrow.parquet as pq

from reconcile.apply import executor
from reconcile.plan.actions import Plan
from reconcile.bq.adapter import Adapter
from reconcile.plan.planner import plan
from reconcile.snapshot.model import Snapshot
from reconcile.snapshot.read import read_snapshot
from reconcile.spec.sources import arrow_to_bq, read_sources
from reconcile.spec.load import load_spec
from reconcile.spec.model import DesiredState
from reconcile.bq.sqltext import qtable, render_sql

PROJECT = "cbi-v14"

# Column lists as YAML flow sequences (one line: safe inside an indented spec text).
WEATHER_COLUMNS = ("[{name: date, type: DATE, mode: REQUIRED}, {name: station, type: STRING, mode: REQUIRED}, "
                   "{name: precipitation, type: FLOAT64}, {name: temp_max, type: FLOAT64}, "
                   "{name: temp_min, type: FLOAT64}, {name: wind, type: FLOAT64}, {name: weather, type: STRING}]")
VIX_COLUMNS = "[{name: date, type: DATE, mode: REQUIRED}, {name: vix_close, type: FLOAT64}]"


def write_spec(root: Path, text: str, files: dict[str, str] | None = None) -> DesiredState:
    """Write desired_state/spec.yaml (and extra files, e.g. SQL) under `root`; load it."""
    for rel, content in (files or {}).items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(content, encoding="utf-8")
    spec = root / "desired_state" / "spec.yaml"
    spec.parent.mkdir(parents=True, exist_ok=True)
    spec.write_text(textwrap.dedent(text), encoding="utf-8")
    return load_spec(spec, root=root)


def copy_staging(src: Path, root: Path, names: Iterable[str]) -> Path:
    dst = root / "staging"
    dst.mkdir(parents=True, exist_ok=True)
    for n in names:
        shutil.copyfile(src / n, dst / n)
    return dst


def make_plan(adapter: Adapter, desired: DesiredState, *, approvals: Iterable[str] = (),
              allow_destructive: bool = False) -> tuple[Plan, Snapshot]:
    snap = read_snapshot(adapter, desired)
    return plan(desired, snap, read_sources(desired), approvals=approvals,
                allow_destructive=allow_destructive), snap


def apply_plan(adapter: Adapter, desired: DesiredState, p: Plan, **kw) -> executor.ApplyResult:
    return executor.apply(p, desired, adapter, run_id=executor.new_run_id(), **kw)


def statuses(result: executor.ApplyResult) -> dict[str, str]:
    return {o.key: o.status for o in result.outcomes}


def assert_converged(adapter: Adapter, desired: DesiredState, **kw) -> Plan:
    p, _ = make_plan(adapter, desired, **kw)
    assert not p.changes, [a.key for a in p.changes]
    assert not [a for a in p.blocked if not a.diagnostic], [a.key for a in p.blocked]
    return p


def checksum(adapter: Adapter, ref: str) -> tuple[int, int | None]:
    """(rows, BIT_XOR of FARM_FINGERPRINT(TO_JSON_STRING(row))) of a table."""
    ds, t = ref.split(".")
    row = adapter.query(render_sql("apply/checksum.sql", table=qtable(adapter.project, ds, t)),
                        what=f"checksum {ref}")[0]
    return int(row["n"]), row["checksum"]


def reference_checksum(adapter: Adapter, path: Path, dataset: str, name: str,
                       columns: list[tuple[str, str, str]] | None = None) -> tuple[int, int | None]:
    """The checksum of a Parquet file's rows, computed by BigQuery: the file is loaded
    with a plain load job into a table of its own (independent of the executor's path)."""
    ref = f"{dataset}.{name}"
    if columns is None:
        schema = pq.read_schema(path)
        columns = [(f.name, arrow_to_bq(f.type), "NULLABLE") for f in schema]
    adapter.create_table(ref, columns)
    adapter.load_parquet(path, ref)
    out = checksum(adapter, ref)
    adapter.delete_table(ref)
    return out


def load_table(adapter: Adapter, ref: str, table: pa.Table, tmp: Path, location: str | None = None) -> None:
    """Create a table from an Arrow table's schema and load its rows (test setup only)."""
    cols = [(f.name, arrow_to_bq(f.type), "NULLABLE") for f in table.schema]
    adapter.create_table(ref, cols)
    path = tmp / f"{ref}.parquet"
    pq.write_table(table, path)
    adapter.load_parquet(path, ref, location=location)
