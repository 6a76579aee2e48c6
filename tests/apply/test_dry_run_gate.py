"""On a real BigQuery target, a transform's text is dry-run before it is sent, and BigQuery's
reading (statement type, referenced tables) must agree with the parser's (issue 18).

The refusal rule is pure (`dry_run_refusal`, tested on the parser's real output); the dry
run itself goes to the local BigQuery through an adapter configured as a `bigquery` target
does (`emulator=False`): the emulator answers a dry run with BigQuery's statement types.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from apply_helpers import apply_plan, copy_staging, make_plan, write_spec
from reconcile.apply.context import Context
from reconcile.apply.handlers.base import HANDLERS
from reconcile.apply.sqlgate import dry_run_refusal
from reconcile.bq.adapter import Adapter, local_client
from reconcile.plan.actions import RunTransform
from reconcile.spec import sqlparse
from test_apply_transforms import files, spec_text

P = "cbi-v14"


@pytest.mark.parametrize("sql, bq_type, refs, refused", [
    ("MERGE `d.t` T USING `d.s` S ON T.a = S.a WHEN NOT MATCHED THEN INSERT (a) VALUES (S.a)", "MERGE",
     ("d.t", "d.s"), None),
    ("MERGE `d.t` T USING `d.s` S ON T.a = S.a WHEN NOT MATCHED THEN INSERT (a) VALUES (S.a)", "DELETE",
     ("d.t",), "BigQuery reads it as DELETE, the plan parsed MERGE: not run"),
    ("CREATE TABLE `d.u` AS SELECT a FROM `d.t`", "CREATE_TABLE_AS_SELECT", ("d.t",), None),
    ("INSERT INTO `d.u` (a) SELECT a FROM `d.t`", "INSERT", ("d.t", "d.secret"),
     "BigQuery says it references d.secret, which the plan's parse does not: not run"),
    ("INSERT INTO `d.u` (a) SELECT 1; DELETE FROM `d.u` WHERE a = 2", "SCRIPT", (), None),
    ("INSERT INTO `d.u` (a) SELECT 1; DELETE FROM `d.u` WHERE a = 2", "INSERT", (),
     "BigQuery reads it as INSERT, the plan parsed INSERT + DELETE: not run"),
])
def test_bigquery_reading_must_match_the_parser(sql, bq_type, refs, refused):
    assert dry_run_refusal(sqlparse.analyze(sql, P), bq_type, refs) == refused


class RecordingAdapter(Adapter):
    """The real adapter, noting the dry runs it sends (not a client mock: the jobs go out)."""

    dry_runs: list[tuple[str | None, tuple[str, ...]]]

    def dry_run(self, sql, **kw):
        got = super().dry_run(sql, **kw)
        self.dry_runs = [*getattr(self, "dry_runs", []), got]
        return got


@pytest.mark.integration
def test_a_bigquery_target_dry_runs_the_transform_before_sending_it(
        adapter: Adapter, emulator, ds_prefix: str, project_root: Path, staging_src: Path) -> None:
    p = ds_prefix
    copy_staging(staging_src, project_root, ["vix_daily.parquet"])
    desired = write_spec(project_root, spec_text(p), files(p))
    plan, _ = make_plan(adapter, desired)
    # Everything but the transform (and the gate on its output), through the local adapter.
    pre = replace(plan, actions=tuple(a for a in plan.actions if not isinstance(a, RunTransform)
                                      and a.target != f"{p}sig.vix_monthly"))
    assert apply_plan(adapter, desired, pre).ok
    bq = RecordingAdapter(local_client(P, emulator.endpoint), P, emulator=False)
    action = next(a for a in plan.actions if isinstance(a, RunTransform))
    out = HANDLERS[action](Context(plan, desired, bq, run_id="dry-run-test"), action)
    assert out.detail.startswith("ran sql/transforms/vix_monthly.sql")
    assert bq.dry_runs == [("SCRIPT", ())]  # two statements: one script, as BigQuery reads it
    assert adapter.count_rows(f"{p}sig.vix_monthly") > 12
