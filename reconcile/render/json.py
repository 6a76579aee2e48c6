"""A plan as a stable, versioned JSON document for machines. Pure: builds a string.

Its shape is the `PlanDocument` model of reconcile.render.schemas, whose action
entries are generated from the action classes (docs/schemas/plan.schema.json;
tests/render/test_schemas.py validates every golden plan against it).

(The module is named for what it renders; `import json` in it is the standard
library's, as imports are absolute.)
"""

from __future__ import annotations

import json
from typing import Any

from reconcile.plan.actions import ACTIONS, Plan
from reconcile.render.items import describe_all, tally
from reconcile.render.schemas import PLAN_SCHEMA_VERSION

JSON_SCHEMA_VERSION = PLAN_SCHEMA_VERSION


def render_json(plan: Plan) -> str:
    """A stable, versioned JSON document: sorted keys, indent 2, actions in plan order.

    Each action is its `to_dict()` plus `text`, the same one-line description the
    other renderers show.
    """
    described = describe_all(plan, "render_json")
    t = tally(plan, described)
    counts = {cls.__name__: 0 for cls in ACTIONS}
    for it in described:
        counts[it.action.kind] += 1
    summary: dict[str, Any] = {
        "counts": counts,
        "changes": t.changes,
        "blocked": t.blocked,
        "destructive": sum(1 for it in described if it.action.destructive),
        "diagnostics": sum(1 for it in described if it.action.diagnostic),
        "unmanaged": t.unmanaged,
        **{"to_" + verb.replace(" ", "_"): n for verb, n in t.by_verb.items()},
    }
    actions = []
    for it in described:
        d = it.action.to_dict()
        if "text" in d:
            raise ValueError(f"{it.action.kind} has a field named 'text', which render_json uses")
        d["text"] = it.line.text
        actions.append(d)
    doc = {
        "schema_version": JSON_SCHEMA_VERSION,
        "project": plan.project,
        "snapshot_taken_at": plan.snapshot_taken_at,
        "notes": list(plan.notes),
        "exit_code": plan.exit_code(),
        "summary": summary,
        "actions": actions,
    }
    return json.dumps(doc, sort_keys=True, indent=2) + "\n"
