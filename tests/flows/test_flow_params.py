"""The deployment run form (issue 15): every flow parameter has a description, `target`
is a choice of the spec's targets, lists are lists. Prefect builds the form from the
same schema (`parameter_schema`), so this needs no server."""

from __future__ import annotations

import pytest
from prefect.utilities.callables import parameter_schema

from flows import drift_flow, reconcile_flow, transforms_flow
from flows.params import documented
from reconcile.spec.load import load_spec
from tests.flows.test_prefect_yaml import ROOT

FLOWS = [reconcile_flow.reconcile, reconcile_flow.create, reconcile_flow.load, reconcile_flow.migrate,
         reconcile_flow.archive, reconcile_flow.relocate, reconcile_flow.validate, reconcile_flow.transforms,
         drift_flow.drift_detection, transforms_flow.run_scheduled_transforms, transforms_flow.backfill]


@pytest.mark.parametrize("f", FLOWS, ids=lambda f: f.name)
def test_every_parameter_is_described_and_typed(f):
    props = parameter_schema(f.fn).model_dump()["properties"]
    assert props
    for name, p in props.items():
        assert p.get("description"), f"{f.name}.{name} has no description in the run form"
        assert "anyOf" not in p or name == "run_date", f"{f.name}.{name} shows as a union: {p}"
    spec_targets = set(load_spec(ROOT / "desired_state" / "cbi-v14.yaml").targets)
    assert set(props["target"]["enum"]) == spec_targets
    for name in ("approvals", "only", "names", "allow_destructive"):
        if name in props:
            assert props[name]["type"] == "array", props[name]


def test_a_parameter_without_a_description_fails_at_import():
    def f(spec: str, colour: str = "red"):
        """A flow."""

    with pytest.raises(TypeError, match=r"colour"):
        documented(f)
