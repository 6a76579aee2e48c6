"""prefect.yaml against the flows and the spec: no server needed.

Every deployment's entrypoint imports and names a Prefect flow; every schedule is
inactive (the local stack must not run anything by itself); drift detection runs
hourly; and each scheduled transform of the reference spec has a deployment on the
transform's own cron, and no deployment names a transform the spec lacks.
"""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path

import pytest
import yaml

from reconcile.spec.load import load_spec

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def deployments() -> list[dict]:
    return yaml.safe_load((ROOT / "prefect.yaml").read_text())["deployments"]


def _flow(entrypoint: str):
    path, _, name = entrypoint.partition(":")
    module = importlib.import_module(path.removesuffix(".py").replace("/", "."))
    return getattr(module, name)


def test_every_deployment_runs_a_flow_on_the_local_pool(deployments):
    names = set()
    for d in deployments:
        flow = _flow(d["entrypoint"])
        assert hasattr(flow, "name") and hasattr(flow, "fn"), d["entrypoint"]
        assert d["work_pool"]["name"] == "local-process"
        names.add(f"{flow.name}/{d['name']}")
        params = set(d.get("parameters", {}))
        assert params <= set(inspect.signature(flow.fn).parameters), (d["name"], params)
    assert {"reconcile/reconcile", "drift-detection/hourly", "create/create", "load/load",
            "migrate/migrate", "archive/archive", "relocate/relocate", "validate/validate",
            "transforms/transforms"} <= names


def test_schedules_are_inactive_and_drift_detection_is_hourly(deployments):
    for d in deployments:
        for s in d.get("schedules") or []:
            assert s["active"] is False, d["name"]
    drift = next(d for d in deployments if d["name"] == "hourly")
    assert drift["schedules"][0]["cron"] == "0 * * * *"


def test_each_scheduled_transform_of_the_spec_has_its_deployment(deployments):
    desired = load_spec(ROOT / "desired_state" / "cbi-v14.yaml")
    scheduled = {n: t.schedule for n, t in desired.transforms.items() if t.schedule}
    deployed = {}
    for d in deployments:
        if d["entrypoint"].endswith(":run_scheduled_transforms"):
            (name,) = d["parameters"]["names"]
            deployed[name] = d["schedules"][0]["cron"]
    assert deployed == scheduled
