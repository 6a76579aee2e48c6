"""The `replica` relocation applied end to end, through the strict BigQuery harness, whose
rule R10 (tests/support/strict_replicas.py) emulates cross-region dataset replication: ADD
REPLICA, SCHEMATA_REPLICAS, the promotion, DROP REPLICA, with BigQuery's preconditions.

- Applied in one run: the statements sent are exactly the plan's (the checked templates), in
  order, each step checkpointed; the dataset keeps its name and lands in the declared location
  with every table's rows and checksum, its routine and model; a second plan exits 0.
- Killed (SIGKILL) after each step's checkpoint: the next plan resumes at the next step, no
  statement is sent twice, and a run resumed after the promotion finds the old replica itself.

Seeded with the demo's real rows (VIX daily closes from the staging files).
"""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest

from apply_helpers import apply_plan, checksum, load_table, write_spec
from test_apply_relocate import _run_until
from reconcile.apply import replication
from reconcile.bq.adapter import Adapter, local_client
from reconcile.plan.actions import RelocateDataset
from reconcile.plan.planner import plan
from reconcile.snapshot.read import read_snapshot
from reconcile.spec.sources import read_sources

pytestmark = pytest.mark.integration

PROJECT = "cbi-v14"
# As the seed loads them (nullable): a declared REQUIRED would be a schema conflict of its own.
VIX_COLUMNS = "[{name: date, type: DATE}, {name: vix_close, type: FLOAT64}]"
STEPS = ["add_replica", "wait_replica", "promote", "drop_replica", "done"]


@pytest.fixture
def sad(strict) -> Adapter:
    return Adapter(local_client(PROJECT, strict.endpoint), PROJECT, emulator=True, retry_delay=0.05)


def spec(p: str) -> str:
    return f"""\
        version: 1
        project: cbi-v14
        default_location: us-central1
        ops_dataset: {p}ops
        targets:
          local: {{type: local}}
          prod: {{type: bigquery, project: cbi-v14}}
        datasets:
          {p}mkt: {{description: market data}}
          {p}ops: {{}}
        tables:
          {p}mkt.vix_daily: {{columns: {VIX_COLUMNS}}}
          {p}mkt.vix_copy: {{columns: {VIX_COLUMNS}}}
        """


def seed(ad: Adapter, strict, p: str, staging_src: Path, tmp: Path) -> dict[str, tuple[int, int | None]]:
    ad.create_dataset(f"{p}mkt", "US", "market data")
    rows = pq.read_table(staging_src / "vix_daily.parquet")
    load_table(ad, f"{p}mkt.vix_daily", rows, tmp, "US")
    load_table(ad, f"{p}mkt.vix_copy", rows.slice(0, 500), tmp, "US")
    ad.execute(f"CREATE FUNCTION `{PROJECT}.{p}mkt.plus1`(x INT64) AS (x + 1)", location="US")
    strict.add_model(f"{p}mkt", "vix_model")
    return {t: checksum(ad, f"{p}mkt.{t}") for t in ("vix_daily", "vix_copy")}


def make(ad: Adapter, desired, approvals=()):
    return plan(desired, read_snapshot(ad, desired, target="prod"), read_sources(desired), approvals=approvals)


def assert_relocated(ad: Adapter, strict, p: str, sums: dict, desired) -> None:
    ds = ad.client.get_dataset(f"{PROJECT}.{p}mkt")
    assert ds.location == "us-central1" and ds.description == "market data"
    for t, s in sums.items():
        assert checksum(ad, f"{p}mkt.{t}") == s
    assert [r.routine_id for r in ad.client.list_routines(f"{PROJECT}.{p}mkt")] == ["plus1"]
    assert [m.model_id for m in ad.client.list_models(f"{PROJECT}.{p}mkt")] == ["vix_model"]
    assert strict.strict.destroyed == []
    # One replica left, the primary, in the new location.
    assert [(r.location, r.primary) for r in strict.replicas.records[f"{p}mkt"]] == [("us-central1", True)]
    again = make(ad, desired)
    assert again.exit_code() == 0 and not again.changes, [a.key for a in again.actions]


def checkpoints(ad: Adapter, p: str) -> list[str]:
    rows = ad.query(f"SELECT step FROM {ad.q(p + 'ops.relocation_checkpoints')} "
                    f"WHERE dataset = '{p}mkt' ORDER BY `at`")
    return [r["step"] for r in rows]


def test_replica_relocation_applies_end_to_end(sad: Adapter, strict, ds_prefix: str, project_root: Path,
                                               staging_src: Path, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    p = ds_prefix
    desired = write_spec(project_root, spec(p))
    sums = seed(sad, strict, p, staging_src, tmp_path)
    # The first full sync is not complete at the first look: the executor waits for it.
    strict.replicas.sync_reads = 1
    monkeypatch.setattr(replication, "REPLICA_POLL_S", 0.05)
    pl = make(sad, desired, approvals=[f"{p}mkt"])
    reloc = next(a for a in pl.actions if isinstance(a, RelocateDataset))
    assert reloc.strategy == "replica" and not reloc.is_blocked, reloc.blocked_by
    result = apply_plan(sad, desired, pl)
    out = result.by_key()[reloc.key]
    assert out.status == "done", out.detail
    assert out.observed["steps"] == STEPS
    planned = dict(reloc.statements)
    # Exactly the plan's statements (the checked templates), in order, each in its location.
    assert strict.replicas.statements == [("add_replica", planned["add_replica"], "US"),
                                          ("promote", planned["promote"], "us-central1"),
                                          ("drop_replica", planned["drop_replica"], "us-central1")]
    assert checkpoints(sad, p) == STEPS
    assert strict.strict.refused == []
    assert_relocated(sad, strict, p, sums, desired)


@pytest.mark.parametrize("killed_at", ["add_replica", "wait_replica", "promote", "drop_replica"])
def test_replica_relocation_resumes_after_kill(killed_at: str, sad: Adapter, strict, ds_prefix: str,
                                               project_root: Path, staging_src: Path, tmp_path: Path) -> None:
    p = ds_prefix
    desired = write_spec(project_root, spec(p))
    sums = seed(sad, strict, p, staging_src, tmp_path)
    planned = dict(next(a for a in make(sad, desired, approvals=[f"{p}mkt"]).actions
                        if isinstance(a, RelocateDataset)).statements)
    _run_until(strict.endpoint, project_root / "desired_state" / "spec.yaml", f"relocate:{killed_at}",
               "--target=prod", f"{p}mkt")
    done_before = STEPS[:STEPS.index(killed_at) + 1]
    assert checkpoints(sad, p) == done_before
    sent_before = [s for s, _, _ in strict.replicas.statements]
    assert sent_before == [s for s in ("add_replica", "promote", "drop_replica") if s in done_before]

    pl = make(sad, desired)  # no approval needed: the checkpoint says to go on
    reloc = next(a for a in pl.actions if isinstance(a, RelocateDataset))
    assert reloc.resume_step == killed_at and reloc.strategy == "replica" and not reloc.is_blocked
    result = apply_plan(sad, desired, pl)
    out = result.by_key()[reloc.key]
    assert out.status == "done", out.detail
    assert out.observed["steps"] == STEPS[len(done_before):]
    # Every statement sent once, as planned: after the promotion the old replica is found and
    # its DROP rendered from the same template.
    assert strict.replicas.statements == [(s, planned[s], loc) for s, loc in (
        ("add_replica", "US"), ("promote", "us-central1"), ("drop_replica", "us-central1"))]
    assert checkpoints(sad, p) == STEPS
    assert_relocated(sad, strict, p, sums, desired)
