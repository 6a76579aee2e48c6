"""The RunTransform handler: a transform's SQL script run where its outputs live, its
outputs checked to exist, and their row counts and the inputs' fingerprint recorded in
the load ledger (what the planner compares to decide whether to run it again).

A transform whose SQL names `@run_date` runs for a date: the action's `run_date`
(a backfill's day, a scheduled run's date), else today (UTC). The date goes into the
script as a DATE literal built from a parsed `datetime.date` (digits and dashes
only, never text from the spec), because the local BigQuery does not pass query
parameters to the statements of a multi-statement script ("Values were not provided
for the following prepared statement parameters: run_date", bqemulator 1.4.0);
BigQuery does, but the literal means the same on both."""

from __future__ import annotations

import datetime as dt

from sqlglot.dialects import BigQuery
from sqlglot.tokens import TokenType

from reconcile.apply.context import Context
from reconcile.apply.handlers.base import HANDLERS
from reconcile.apply.results import ActionFailed, Done, done
from reconcile.apply.sqlgate import checked_transform_sql, confirm_by_dry_run
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


RUN_DATE = "run_date"


def takes_run_date(script: str) -> bool:
    """The script names the parameter @run_date (found by BigQuery's tokenizer: not in a
    comment or a string)."""
    return bool(_run_date_spans(script))


def _run_date_spans(script: str) -> list[tuple[int, int]]:
    toks = BigQuery().tokenize(script)
    return [(a.start, b.end) for a, b in zip(toks, toks[1:])
            if a.token_type == TokenType.PARAMETER and b.text.lower() == RUN_DATE and b.start == a.end + 1]


def bind_run_date(script: str, run_date: dt.date) -> str:
    """The script with each @run_date replaced by the DATE literal of `run_date`."""
    if not isinstance(run_date, dt.date) or isinstance(run_date, dt.datetime):
        raise TypeError(f"run_date must be a date, not {type(run_date).__name__}")
    literal = f"DATE '{run_date.isoformat()}'"
    out, last = [], 0
    for start, end in _run_date_spans(script):
        out += [script[last:start], literal]
        last = end + 1
    return "".join(out) + script[last:]


def _run_date(a: RunTransform) -> dt.date:
    if a.run_date is None:
        return dt.datetime.now(dt.timezone.utc).date()
    try:
        return dt.date.fromisoformat(a.run_date)
    except ValueError:
        raise ActionFailed(f"run_date {a.run_date!r} is not a date (YYYY-MM-DD)") from None


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
    day = None
    if takes_run_date(script):
        day = _run_date(a)
        script = bind_run_date(script, day)
    if not ctx.adapter.emulator:  # BigQuery's own reading must agree with the parser's (issue 18)
        confirm_by_dry_run(ctx, a.name, script, loc)
    ctx.adapter.execute(script, location=loc, what=f"transform {a.name}"
                        + (f" for {day.isoformat()}" if day else ""))
    missing = [o for o in a.outputs if not ctx.adapter.table_exists(o)]
    if missing:
        raise ActionFailed(f"ran, but output(s) {', '.join(missing)} do not exist")
    inputs = _input_rows(ctx, list(tr.inputs))
    fp = transform_fingerprint(tr.inputs, inputs)
    out_rows = ctx.counts(list(a.outputs))
    if a.outputs:
        ctx.record_ledger([{"table_ref": o, "source": source, "content_hash": fp, "rows": out_rows[o],
                            "rows_inserted": 0, "rows_updated": 0} for o in a.outputs])
    return done(f"ran {a.sql_file}" + (f" for {day.isoformat()}" if day else "") + ": " + ", ".join(f"{o} {out_rows[o]:,} rows" for o in a.outputs),
                outputs=out_rows, inputs=inputs, fingerprint=fp)
