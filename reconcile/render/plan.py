"""Describe a Plan for people and programs: the public entry of the plan renderers.

Callers (the CLI, the flows, the PR comment, the tests) import from here; the
work is done in one module per concern, all pure (they build strings: no I/O, no
clock, no environment, never BigQuery):

- `describe` (`describe.py`): the registry keyed by the action class (as Alembic's
  autogenerate render registry is) that turns one action into a one-line, specific
  description and a verb ("create", "load", ...) used for the totals. An action
  type missing from it raises `UnknownAction`, so a new action cannot be rendered
  silently as something else.
- `render_text` (`text.py`): the `terraform plan`-like report for a terminal,
  grouped by dataset; ANSI colour only when asked for (the CLI passes `isatty()`).
- `render_markdown` (`markdown.py`): for pull-request comments and Prefect
  artifacts; what is blocked or destructive comes first, and the output always
  stays under GitHub's 65,536-character comment limit, however large the plan.
- `render_json` (`json.py`): a stable, versioned document for machines.

`items.py` holds what the three share (each action's line and symbol, the tallies
per verb, which the PR comment's summary line uses too).
"""

from __future__ import annotations

from reconcile.render.describe import RENDER_REGISTRY, VERBS, Line, describe, describe_line
from reconcile.render.json import JSON_SCHEMA_VERSION, render_json
from reconcile.render.markdown import MARKDOWN_LIMIT, render_markdown
from reconcile.render.text import render_text

__all__ = [
    "JSON_SCHEMA_VERSION",
    "MARKDOWN_LIMIT",
    "RENDER_REGISTRY",
    "VERBS",
    "Line",
    "describe",
    "describe_line",
    "render_json",
    "render_markdown",
    "render_text",
]
