"""Apply: a legacy dataset retired (issue 17) on the local BigQuery — migrated, verified,
archived, then deleted only once nothing reads it, with the allow; and a view created
between the plan and the apply refuses the deletion at apply time.

The legacy table is the demo's real WTI series (`reconcile.demo.data.legacy_tables`)
under this test's dataset prefix, in US like the audit's legacy datasets."""

from __future__ import annotations

from pathlib import Path

import pytest

from apply_helpers import apply_plan, checksum, load_table, make_plan, statuses, write_spec
from reconcile.bq.adapter import Adapter
from reconcile.demo.data import legacy_tables
from reconcile.plan.actions import ArchiveDataset

pytestmark = pytest.mark.integration


def spec_text(p: str) -> str:
    return f"""\
        project: cbi-v14
        default_location: us-central1
        ops_dataset: {p}ops
        datasets: {{{p}market: {{}}, {p}ops: {{}}, {p}arch: {{}}}}
        migrations:
          - {{source: "{p}legacy.*", to: {p}market, rename: {{prefix: fwd_}}}}
        archive: {{dataset: {p}arch, sources: ["{p}bk_*"]}}
        retire: [{p}legacy]
        """


def retirement(p, name: str) -> ArchiveDataset | None:
    return next((a for a in p.actions if isinstance(a, ArchiveDataset) and a.name == name), None)


def test_retire_waits_for_the_view_and_the_apply_checks_again(adapter: Adapter, ds_prefix: str,
                                                               project_root: Path, tmp_path: Path) -> None:
    p = ds_prefix
    legacy, view = f"{p}legacy", f"{p}dash.weekly"
    adapter.create_dataset(legacy, "US")
    adapter.create_dataset(f"{p}dash", "US")
    load_table(adapter, f"{legacy}.crude_oil_prices", legacy_tables()["forecasting_data_warehouse.crude_oil_prices"],
               tmp_path, "US")
    original = checksum(adapter, f"{legacy}.crude_oil_prices")
    create_view = (f"CREATE OR REPLACE VIEW {adapter.q(view)} AS "
                   f"SELECT DATE_TRUNC(date, WEEK) AS week, AVG(close) AS c FROM `{legacy}.crude_oil_prices` GROUP BY week")
    adapter.execute(create_view, location="US")
    desired = write_spec(project_root, spec_text(p))
    blocker = (f"view {view} reads {legacy}.crude_oil_prices (now {p}market.fwd_crude_oil_prices): "
               "still referenced")

    # 1. migrate (backed up, counts verified) and archive; nothing deleted without the allow
    plan1, _ = make_plan(adapter, desired)
    a = retirement(plan1, legacy)
    assert a is not None and not a.delete_source and a.tables
    result = apply_plan(adapter, desired, plan1)
    assert result.ok, [(o.key, o.detail) for o in result.outcomes if o.status != "done"]
    plan2, _ = make_plan(adapter, desired)
    assert not plan2.changes and plan2.exit_code() == 0
    assert [n for n in plan2.notes if n.startswith("retire")] == [f"retire {legacy}: waiting for: {blocker}"]

    # 2. with the allow, the view blocks the deletion, named with the new name
    allowed, _ = make_plan(adapter, desired, allow_destructive=[f"delete:{legacy}"])
    a = retirement(allowed, legacy)
    assert a is not None and a.delete_source and a.blocked_by == (blocker,) and allowed.exit_code() == 3

    # 3. the view cut over (dropped here): the deletion is planned; a view made again between
    #    the plan and the apply refuses it at apply time, before anything is deleted
    adapter.execute(f"DROP VIEW {adapter.q(view)}", location="US")
    ready, _ = make_plan(adapter, desired, allow_destructive=[f"delete:{legacy}"])
    a = retirement(ready, legacy)
    assert a is not None and a.delete_source and a.blocked_by == ()
    adapter.execute(create_view, location="US")
    result = apply_plan(adapter, desired, ready)
    o = result.by_key()[a.key]
    assert o.status == "failed" and blocker in o.detail, o.detail
    assert adapter.dataset_location(legacy) is not None

    # 4. the view gone for good: the same plan deletes the dataset, its archive copy proven
    adapter.execute(f"DROP VIEW {adapter.q(view)}", location="US")
    result = apply_plan(adapter, desired, ready)
    assert statuses(result)[a.key] == "done", result.outcomes
    assert adapter.dataset_location(legacy) is None
    assert checksum(adapter, f"{p}arch.{legacy}__crude_oil_prices") == original
    final, _ = make_plan(adapter, desired)
    assert retirement(final, legacy) is None and not final.changes
