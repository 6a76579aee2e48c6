"""Views: create the missing ones, replace one whose SQL differs from its
declaration, flag a view's name taken by something else.

Reads `blockers()`; adds `managed_tables` and `blocked_tables` (the name is taken).
`normalize_view_sql` is what "differs" means; the executor uses it to verify a view
it has just written. Pure.
"""

from __future__ import annotations

import re

from reconcile.plan.actions import CreateView, FlagSchemaConflict
from reconcile.plan.state import PlanInputs, PlanState


def normalize_view_sql(sql: str) -> str:
    """A view's SQL as compared with its declaration. The emulator's
    INFORMATION_SCHEMA.VIEWS gives the text back with quotes dropped from string
    literals and `-- x` comments as `/* x */` (docs/emulator.md); both spellings, and
    BigQuery's verbatim text, normalise to the same string. Pure."""
    sql = re.sub(r"--([^\n]*)", lambda m: f"/* {m.group(1).strip()} */", sql)
    sql = re.sub(r"/\*\s*(.*?)\s*\*/", lambda m: f"/* {m.group(1)} */", sql, flags=re.S)
    sql = sql.replace("`", "").replace("'", "").replace('"', "")
    return " ".join(sql.split()).rstrip(";").strip().lower()


def compare(inp: PlanInputs, state: PlanState) -> None:
    d, s = inp.desired, inp.snapshot
    for ref in sorted(d.views):
        v = d.views[ref]
        state.managed_tables.add(ref)
        live = s.tables.get(ref)
        want_sql = d.view_sql.get(ref, "")
        if live is None:
            state.add(CreateView(view=ref, sql_file=v.sql, blocked_by=state.blockers(ref)))
        elif live.type != "VIEW":
            a = state.add(FlagSchemaConflict(table=ref, changes=(f"exists as a {live.type}, declared as a view",),
                                             rows=live.rows or 0))
            state.blocked_tables[ref] = a.key
        elif live.view_sql is not None and normalize_view_sql(live.view_sql) != normalize_view_sql(want_sql):
            state.add(CreateView(view=ref, sql_file=v.sql, replace=True, blocked_by=state.blockers(ref)))
