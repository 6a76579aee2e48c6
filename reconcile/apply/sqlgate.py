"""The executor's SQL gate: a transform's script is re-checked as it is about to be sent.

The plan was made from the text the spec loaded (`DesiredState.transform_sql`, checked by
`reconcile.plan.compare.transforms.sql_refusals`). Before the script runs, the file is read
again and refused on any difference from that text (it changed since the plan: the
reviewed plan is not what would run), and the text is judged again, on live row counts:
a CREATE OR REPLACE TABLE over a table that gained rows since the plan is refused too.
What is sent is the planned text, never a second read of the file.
"""

from __future__ import annotations

from reconcile.apply.context import Context
from reconcile.apply.results import ActionFailed
from reconcile.plan.compare.transforms import sql_refusals
from reconcile.spec import sqlparse
from reconcile.spec.load import sql_info_of


def checked_transform_sql(ctx: Context, name: str) -> str:
    """The text to send for transform `name`, or ActionFailed naming why not."""
    d = ctx.d
    tr = d.transforms[name]
    planned = d.transform_sql.get(name)
    if planned is None:
        raise ActionFailed(f"{tr.sql}: no checked SQL for transform {name} (the spec did not load it)")
    path = d.path(tr.sql)
    try:
        now = path.read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ActionFailed(f"{tr.sql}: cannot read it again before running: {type(e).__name__}") from None
    if sqlparse.text_hash(now) != sqlparse.text_hash(planned):
        raise ActionFailed(f"{tr.sql} changed since the plan was made: not run (plan again to review it)")
    try:
        info = sql_info_of(tr.sql, planned, d.project)
    except sqlparse.SqlError as e:
        raise ActionFailed(f"{tr.sql}: {e}") from None
    written = [w for _, w in info.write_lines]
    outside = [w for w in written if w not in tr.outputs]
    if outside:
        raise ActionFailed(f"{tr.sql} writes {', '.join(sorted(set(outside)))}: not a declared output of {name}")

    def rows_of(ref: str) -> int | None:
        ds = ref.split(".", 1)[0]
        if ctx.location(ds) is None or not ctx.adapter.table_exists(ref):
            return None
        return ctx.counts([ref]).get(ref, -1)

    refused = sql_refusals(d, name, info, rows_of, managed=tr.outputs)
    if refused:
        raise ActionFailed("; ".join(refused))
    return planned
