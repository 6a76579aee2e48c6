"""Transient faults: a full apply through a loopback proxy that fails 20% of requests.

The proxy (`tests/support/loopback_proxy.py`) sits between the real BigQuery client and
the local BigQuery. With a seeded RNG it answers a fifth of the requests (at most
MAX_FAULTS in all) with one of: HTTP 500 (backendError), HTTP 503, an answer held past
the client's timeout (the emulator has run the request), a connection reset before the
request reaches the emulator, or a reset after it ran. The adapter is configured, not
patched: `http_timeout` bounds each request, `retries` its own retries of transient
errors (the client retries some itself).

A run is what `reconcile apply` does (snapshot, plan, lease, apply); if a run leaves
work (an action failed on an error it could not retry), the next run finishes it, as
an operator would rerun. The test then checks, directly against the emulator, that the
warehouse converged and every table holds exactly its source's rows (count and content
checksum): no row lost, none duplicated.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

import reliability_scenario as scenario
from apply_helpers import assert_converged, make_plan
from loopback_proxy import LoopbackProxy
from reconcile.apply import executor
from reconcile.local import emulator as local
from reconcile.bq.adapter import Adapter, local_client

pytestmark = [pytest.mark.reliability, pytest.mark.integration]

PROJECT = "cbi-v14"
FAULT_RATE = 0.20
MAX_FAULTS = 60
SEED = 20251119
CLIENT_TIMEOUT = 4.0  # seconds per HTTP request (Adapter http_timeout)
RETRIES = 6  # Adapter retries of a transient error (0.5 s, doubling)
MAX_RUNS = 4


def _run(adapter: Adapter, desired, approvals: list[str]) -> dict:
    """One `reconcile apply`, in process: snapshot, plan, lease, apply."""
    t0 = time.monotonic()
    try:
        plan, _ = make_plan(adapter, desired, approvals=approvals)
        if not plan.changes:
            return {"changes": 0, "seconds": round(time.monotonic() - t0, 1)}
        with executor.lease(adapter, desired, adapter.run_id, wait_seconds=30):
            result = executor.apply(plan, desired, adapter, run_id=adapter.run_id)
        failed = [f"{o.key}: {o.detail}" for o in result.outcomes if o.status == "failed"]
        return {"changes": len(plan.changes), "counts": result.counts(), "failed": failed,
                "seconds": round(time.monotonic() - t0, 1)}
    except Exception as e:  # noqa: BLE001 - a run that stops on an error is rerun, as by an operator
        return {"error": f"{type(e).__name__}: {str(e).splitlines()[0][:300]}",
                "seconds": round(time.monotonic() - t0, 1)}


@pytest.mark.timeout(480)
def test_apply_converges_through_20_percent_transient_faults(
        emulator: local.LocalEmulator, adapter: Adapter, ds_prefix: str, project_root: Path,
        staging_src: Path, tmp_path: Path, figures, expected_tables) -> None:
    p = ds_prefix
    desired = scenario.write(project_root, p, staging_src)
    scenario.seed(adapter, p, staging_src, tmp_path)
    want = expected_tables(adapter, p)

    runs: list[dict] = []
    t0 = time.monotonic()
    with LoopbackProxy(emulator.endpoint, fault_rate=FAULT_RATE, max_faults=MAX_FAULTS, seed=SEED,
                       client_timeout=CLIENT_TIMEOUT) as proxy:
        for _ in range(MAX_RUNS):
            run_id = executor.new_run_id()
            faulty = Adapter(local_client(PROJECT, proxy.endpoint), PROJECT, run_id=run_id, emulator=True,
                             retries=RETRIES, http_timeout=CLIENT_TIMEOUT)
            run = _run(faulty, desired, scenario.approvals(p))
            run["requests"] = faulty.requests.count
            runs.append(run)
            if run.get("changes") == 0:
                break
        stats = proxy.stats
    seconds = time.monotonic() - t0

    # Judged directly against the emulator, not through the proxy.
    bad, lost, extra = scenario.verify(adapter, p, want)
    try:
        assert_converged(adapter, desired, approvals=scenario.approvals(p))
        converged = True
    except AssertionError:
        converged = False
    ledger = adapter.query(f"SELECT table_ref, source, content_hash, COUNT(*) AS n "
                           f"FROM {adapter.q(p + 'ops.load_ledger')} GROUP BY 1, 2, 3")
    ledger_dups = sum(int(r["n"]) - 1 for r in ledger)
    applies = sum(1 for r in runs if r.get("changes") or r.get("error"))
    figures.add("faults", {
        "fault_rate": FAULT_RATE, "seed": SEED, "max_faults": MAX_FAULTS, "client_timeout_s": CLIENT_TIMEOUT,
        "adapter_retries": RETRIES, "requests": stats.requests, "faults": sum(stats.faults.values()),
        "faults_by_kind": dict(sorted(stats.faults.items())), "runs": runs, "applies_needed": applies,
        "tables_checked": len(want), "rows_checked": scenario.data_rows(want),
        "tables_wrong": bad, "rows_lost": lost, "rows_duplicated": extra, "ledger_duplicate_rows": ledger_dups,
        "seconds": round(seconds, 1), "converged": converged,
    })
    assert sum(stats.faults.values()) >= 20, stats.faults  # the faults really happened
    assert converged, runs
    assert not bad, bad
    assert applies <= MAX_RUNS - 1, runs


def test_emulator_reruns_a_job_inserted_twice_with_one_id(adapter: Adapter, ds_prefix: str) -> None:
    """The emulator difference behind the extra apply runs above (docs/emulator.md): when an
    answer is lost, the client sends jobs.insert again with the same job id. BigQuery answers
    409 and the client reads the job that ran; the emulator runs the job a second time."""
    from google.cloud import bigquery

    ref = f"{ds_prefix}d.t"
    adapter.create_dataset(f"{ds_prefix}d", "US")
    adapter.create_table(ref, [("x", "INT64", "NULLABLE")])
    sql = f"INSERT INTO {adapter.q(ref)} (x) VALUES (1)"
    cfg = bigquery.QueryJobConfig()
    adapter.client.query(sql, job_config=cfg, job_id=f"{ds_prefix}same_id", job_retry=None).result()
    adapter.client.query(sql, job_config=cfg, job_id=f"{ds_prefix}same_id", job_retry=None).result()
    assert adapter.count_rows(ref) == 2  # BigQuery: Conflict on the second insert, 1 row
