"""Prefect flow `scheduled-transforms`: the spec's scheduled transforms, on a clock.

The planner runs a transform when its inputs change; feature engineering that runs
every day (daily aggregation, regime assignment, signal calculations, hidden-
relationship signals from news) runs on a schedule instead. This flow builds their
RunTransform actions from the spec and runs them through the same pipeline as every
other apply (lease, one task per action with retries, result artifact).
"""

from __future__ import annotations

from typing import Optional

from prefect import flow

from flows.pipeline import DEFAULT_SPEC, run_pipeline, scheduled_transforms
from reconcile.plan.actions import RunTransform
from reconcile.spec.load import flow_spec_path, load_spec


@flow(name="scheduled-transforms", log_prints=True)
def run_scheduled_transforms(names: Optional[list[str]] = None, spec: str = DEFAULT_SPEC,
                             target: str = "local", dry_run: bool = False,
                             wait_seconds: float = 300.0):
    """Run the named scheduled transforms (all scheduled ones if `names` is empty)."""
    actions = scheduled_transforms(load_spec(flow_spec_path(spec)), names)
    return run_pipeline(flow_key="scheduled-transforms", title="Scheduled transforms", spec=spec,
                        target=target, dry_run=dry_run, kinds=(RunTransform.__name__,),
                        only=[a.name for a in actions] or ["__none__"], extra_actions=actions,
                        wait_seconds=wait_seconds)
