"""Print where to look in the Prefect UI: the latest run of a deployment and its artifacts.

    PREFECT_API_URL=http://127.0.0.1:4200/api python -m flows.links reconcile/reconcile

`make demo` runs it after `prefect deployment run ... --watch`. Reads only.
"""

from __future__ import annotations

import sys

from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    ArtifactFilter, ArtifactFilterFlowRunId, DeploymentFilter, DeploymentFilterName, FlowFilter,
    FlowFilterName,
)
from prefect.client.schemas.sorting import FlowRunSort
from prefect.settings import PREFECT_API_URL


def main(argv: list[str]) -> int:
    name = argv[0] if argv else "reconcile/reconcile"
    flow_name, _, deployment_name = name.partition("/")
    api = PREFECT_API_URL.value()
    if not api:
        print("PREFECT_API_URL is not set", file=sys.stderr)
        return 1
    ui = api.rstrip("/").removesuffix("/api")
    with get_client(sync_client=True) as c:
        runs = c.read_flow_runs(
            flow_filter=FlowFilter(name=FlowFilterName(any_=[flow_name])),
            deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=[deployment_name])),
            sort=FlowRunSort.EXPECTED_START_TIME_DESC, limit=1)
        if not runs:
            print(f"no run of {name} yet", file=sys.stderr)
            return 1
        run = runs[0]
        arts = c.read_artifacts(artifact_filter=ArtifactFilter(
            flow_run_id=ArtifactFilterFlowRunId(any_=[run.id])))
        deployments = c.read_deployments()
        flows = {f.id: f.name for f in c.read_flows()}
    state = run.state.name if run.state else "?"
    message = f": {run.state.message}" if run.state and run.state.message else ""
    print(f"\nFlow run {run.name} ({name}) {state}{message}")
    print(f"  {ui}/runs/flow-run/{run.id}")
    print(f"Artifacts (also on the flow run's Artifacts tab, and under {ui}/artifacts):")
    for a in sorted(arts, key=lambda a: a.key or ""):
        print(f"  {a.key:<32} {ui}/artifacts/artifact/{a.id}")
    scheduled = [d for d in deployments if d.schedules]
    if scheduled:
        print(f"Scheduled deployments ({ui}/deployments):")
        for d in sorted(scheduled, key=lambda d: (flows.get(d.flow_id, ""), d.name)):
            for s in d.schedules:
                what = getattr(s.schedule, "cron", None) or getattr(s.schedule, "interval", None)
                print(f"  {flows.get(d.flow_id, '?')}/{d.name:<28} {what} "
                      f"({'active' if s.active else 'inactive'})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
