"""What the flows' parameters mean, for the deployment run form.

Prefect builds the form from each flow's signature (a `Literal` becomes a choice, a
`tuple[str, ...]` a list of strings) and its docstring's `Args:` section (the field
descriptions). The descriptions are written once here; `documented` appends them to a
flow's docstring, and a parameter without one fails at import.
"""

from __future__ import annotations

import inspect
from typing import Literal

# The spec's targets, as a choice in the deployment's run form (Prefect builds an enum
# from a Literal). The shipped spec declares these two; tests/flows/test_flow_params.py
# checks they are its targets, so the form never offers a target the spec lacks.
Target = Literal["local", "bigquery"]

# What the parameters mean, written once: every flow's docstring uses these lines in
# the `Args:` form Prefect reads for the run form's descriptions.
_ARGS = {
    "spec": "spec: The desired-state file, inside the project's desired_state/ folder.",
    "target": "target: Which of the spec's targets to reconcile: `local` (the bundled local "
              "BigQuery) or `bigquery` (the real project, through a GcpCredentials block or ADC).",
    "dry_run": "dry_run: Plan and show what would run; change nothing.",
    "allow_destructive": "allow_destructive: Destructive steps you allow, in the plan's words: "
                         "`replace:DATASET.TABLE` (a table replaced, its rows backed up first), "
                         "`delete:DATASET` (an archive source deleted once every object in it is "
                         "archived and verified; the spec must also say delete_sources: true), or "
                         "`replace` / `delete` for every such step. Empty: nothing destructive runs.",
    "approvals": "approvals: Wrong-region datasets you approve to be recreated in their declared "
                 "region (data carried over and verified), e.g. [\"market_data\"].",
    "only": "only: Restrict to action kinds (e.g. MergeLoad) and/or objects (dataset, "
            "dataset.table, globs such as market_data.fwd_*).",
    "wait_seconds": "wait_seconds: How long to wait for another apply on the same project to finish.",
    "approval_timeout_seconds": "approval_timeout_seconds: When the plan holds a relocation or a "
                                "destructive step the parameters do not approve, the run pauses for "
                                "a person to approve it in the UI for this long; 0 fails at once.",
}

def documented(fn):
    """Append an `Args:` section for each of `fn`'s parameters (Prefect reads it for the
    run form). Applied under `@flow`, so the flow sees the finished docstring."""
    names = [n for n in inspect.signature(fn).parameters if n in _ARGS]
    missing = [n for n in inspect.signature(fn).parameters if n not in _ARGS]
    if missing:  # a new parameter without its description fails at import
        raise TypeError(f"{fn.__name__}: parameter(s) {missing} have no description in _ARGS")
    fn.__doc__ = (inspect.cleandoc(fn.__doc__ or "") + "\n\nArgs:\n"
                  + "\n".join("    " + _ARGS[n] for n in names) + "\n")
    return fn
