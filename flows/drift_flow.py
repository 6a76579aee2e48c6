"""Prefect flow `drift-detection`: snapshot -> plan, never applies.

No drift: Completed. Drift: a Markdown artifact naming each difference (and the
full plan), a Prefect event `reconcile.drift.detected` (counts per action kind, the
run id) for an automation to notify on, and a final state named `Drifted` (of type
FAILED, so a drifted run is told apart from a crash in the runs list). The repo ships
that automation: flows/drift_alert.yaml, applied by `reconcile local up` (flows.alerts). What counts as drift
is decided in `reconcile.render.result.assess`: missing staging files and unmanaged
objects are reported but are not drift. It takes no lease and no concurrency slot:
it reads only, so it may run beside an apply.
"""

from __future__ import annotations


from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact
from prefect.events import emit_event
from prefect.runtime import flow_run
from prefect.states import Completed, Failed

from flows.params import Target, documented
from flows.pipeline import DEFAULT_SPEC, _flow_run_url, artifact_key, task_session
from reconcile.apply.results import new_run_id
from reconcile.apply.session import Scope
from reconcile.bq.targets import connect
from reconcile.render.plan import describe, render_markdown
from reconcile.render.result import assess, render_drift_markdown
from reconcile.spec.load import flow_spec_path, load_spec

EVENT = "reconcile.drift.detected"
DRIFTED = "Drifted"  # the final state's name on drift (type FAILED)


@flow(name="drift-detection", log_prints=True)
@documented
def drift_detection(spec: str = DEFAULT_SPEC, target: Target = "local",
                    only: tuple[str, ...] = ()):
    """Compare the warehouse with the spec; fail (and emit an event) if they differ."""
    logger = get_run_logger()
    desired = load_spec(flow_spec_path(spec))  # a parameter: only a spec in desired_state/ (issue 18)
    run_id = new_run_id()
    adapter = connect(desired, target, run_id=run_id)
    session = task_session(desired, adapter, run_id=run_id, target=target,
                           scope=Scope(only=tuple(only or ())))
    p = session.plan()  # snapshot and plan tasks; no lease, no slot: it only reads
    a = assess(p)
    if a.in_sync:
        waiting = f"; {len(a.known_gaps)} known gap(s)" if a.known_gaps else ""
        msg = f"no drift on {desired.project} (target {target}){waiting}"
        logger.info(msg)
        return Completed(message=msg)

    create_markdown_artifact(
        markdown=render_drift_markdown(p, a, target=target, run_id=run_id, plan_markdown=render_markdown(p)),
        key=artifact_key("drift", desired.project),
        description=f"Drift on {desired.project} (target {target}, run {run_id})")
    flow_run_id = str(flow_run.id) if flow_run.id else None
    emit_event(
        event=EVENT,
        resource={"prefect.resource.id": f"reconcile.project.{desired.project}",
                  "prefect.resource.name": desired.project,
                  "reconcile.target": target},
        payload={"project": desired.project, "target": target, "run_id": run_id,
                 "flow_run_id": flow_run_id, "flow_run_url": _flow_run_url(),
                 "summary": a.summary(), "counts": a.counts(), "total": len(a.drift),
                 "objects": [f"{x.kind} {x.target}" for x in a.drift[:50]]},
    )
    for x in a.drift:
        logger.warning("drift: %s %s: %s", x.kind, x.target, describe(x))
    return Failed(name=DRIFTED, message=f"drift on {desired.project}: {a.summary()}")
