"""The Validate handler: a table's expectations measured now and judged by the planner's
rules (a gate). A failing check the target declared a known gap warns; any other fails
the action, with the observed values in its outcome."""

from __future__ import annotations

import logging

from reconcile.apply.context import EXECUTOR_LOG, Context
from reconcile.apply.handlers.base import HANDLERS
from reconcile.apply.results import ActionFailed, Done, done
from reconcile.plan.actions import Validate
from reconcile.plan.expectations import evaluate, expectations_with_floors

log = logging.getLogger(EXECUTOR_LOG)


@HANDLERS.register(Validate)
def validate(ctx: Context, a: Validate) -> Done:
    from reconcile.snapshot.observe import observe_table

    loc = ctx.table_location(a.table)
    if not ctx.adapter.table_exists(a.table):
        raise ActionFailed(f"{a.table} does not exist")
    exp = expectations_with_floors(ctx.d, a.table)
    obs = observe_table(ctx.adapter, ctx.d, a.table, exp, location=loc)
    results = evaluate(exp, obs, None)
    observed = {r.check: r.observed for r in results}
    known = dict(a.known_gaps)
    gaps = [r for r in results if not r.passed and r.kind in known]
    bad = [r for r in results if not r.passed and r.kind not in known]
    for r in gaps:
        log.warning("%s: %s fails (expected %s, observed %s): known gap on this target: %s",
                    a.table, r.check, r.expected, r.observed, known[r.kind])
    if bad:
        raise ActionFailed("; ".join(f"{r.check}: expected {r.expected}, observed {r.observed}" for r in bad),
                           {"observed": observed, "expected": {r.check: r.expected for r in results},
                            "failed": [r.check for r in bad]})
    if gaps:
        return done(f"{len(results) - len(gaps)} check(s) passed; {len(gaps)} known gap(s): "
                    + "; ".join(f"{r.check} observed {r.observed} ({known[r.kind]})" for r in gaps),
                    observed=observed)
    return done(f"{len(results)} check(s) passed", observed=observed)
