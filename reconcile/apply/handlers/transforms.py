"""The RunTransform handler: a transform's SQL script run where its outputs live, its
outputs checked to exist, and their row counts and the inputs' fingerprint recorded in
the load ledger (what the planner compares to decide whether to run it again)."""

from __future__ import annotations

from reconcile.apply.context import Context
from reconcile.apply.handlers.base import HANDLERS
from reconcile.apply.results import ActionFailed, Done, done
from reconcile.apply.sqlgate import checked_transform_sql
from reconcile.plan.actions import RunTransform
from reconcile.plan.names import TRANSFORM_SOURCE_PREFIX, transform_fingerprint


def _input_rows(ctx: Context, refs: list[str]) -> dict[str, int | None]:
    """Exact counts of a transform's inputs; None for one that does not exist (as the planner)."""
    existing = []
    for r in refs:
        ds, t = r.split(".", 1)
        if ctx.location(ds) is not None and ctx.adapter.table_exists(r):
            existing.append(r)
    counts = ctx.counts(existing)
    return {r: counts.get(r) for r in refs}


@HANDLERS.register(RunTransform)
def run_transform(ctx: Context, a: RunTransform) -> Done:
    tr = ctx.d.transforms.get(a.name)
    if tr is None:
        raise ActionFailed(f"transform {a.name} is not in the spec")
    for out in a.outputs:
        ctx.need_dataset(out.split(".", 1)[0])
    # The script's job runs where its outputs live (on BigQuery a query reads one location).
    where = list(a.outputs) or list(tr.inputs)
    loc = ctx.need_dataset(where[0].split(".", 1)[0]) if where else ctx.d.default_location
    source = TRANSFORM_SOURCE_PREFIX + a.name
    # Checked before: the inputs exist. Not skipped on an unchanged fingerprint: it holds
    # row counts only, and a MERGE that updates rows keeps them; transforms are written to
    # be rerun (CREATE OR REPLACE / MERGE), so running again is the safe side.
    absent = [i for i in tr.inputs if ctx.location(i.split(".", 1)[0]) is None
              or not ctx.adapter.table_exists(i)]
    if absent:
        raise ActionFailed(f"input(s) {', '.join(absent)} do not exist")
    script = checked_transform_sql(ctx, a.name)  # the planned text, re-checked (reconcile.apply.sqlgate)
    ctx.adapter.execute(script, location=loc, what=f"transform {a.name}")
    missing = [o for o in a.outputs if not ctx.adapter.table_exists(o)]
    if missing:
        raise ActionFailed(f"ran, but output(s) {', '.join(missing)} do not exist")
    inputs = _input_rows(ctx, list(tr.inputs))
    fp = transform_fingerprint(tr.inputs, inputs)
    out_rows = ctx.counts(list(a.outputs))
    if a.outputs:
        ctx.record_ledger([{"table_ref": o, "source": source, "content_hash": fp, "rows": out_rows[o],
                            "rows_inserted": 0, "rows_updated": 0} for o in a.outputs])
    return done(f"ran {a.sql_file}: " + ", ".join(f"{o} {out_rows[o]:,} rows" for o in a.outputs),
                outputs=out_rows, inputs=inputs, fingerprint=fp)
