"""Expectations judged against observed metrics: one table's checks, each with what was
expected, what was observed and whether it passed.

The planner judges the snapshot's observations with `evaluate` (a failing check is an
`ExpectationFailed`, or the reason a transform runs); the executor's Validate gate
re-checks with the same function on metrics it has just read. Pure: no I/O.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from reconcile.spec.model import DesiredState, Expectations


@dataclass(frozen=True)
class CheckResult:
    check: str  # e.g. "min_distinct(regime)"
    kind: str  # the expectation kind, e.g. "min_distinct"
    expected: str
    observed: str
    passed: bool


def evaluate(exp: Expectations, obs: dict, rows: int | None) -> list[CheckResult]:
    """Compare one table's expectations with its observed metrics. Pure."""
    out: list[CheckResult] = []

    def missing(col: str) -> bool:
        return bool(obs.get(f"missing_column:{col}"))

    n = obs.get("rows", rows)
    if exp.min_rows is not None:
        out.append(CheckResult("min_rows", "min_rows", f">= {exp.min_rows:,}",
                               "unknown" if n is None else f"{n:,}",
                               n is not None and n >= exp.min_rows))
    if exp.min_columns is not None:
        c = obs.get("columns")
        out.append(CheckResult("min_columns", "min_columns", f">= {exp.min_columns}",
                               "unknown" if c is None else str(c), c is not None and c >= exp.min_columns))
    for col, k in sorted(exp.min_distinct.items()):
        v = obs.get(f"distinct:{col}")
        out.append(CheckResult(f"min_distinct({col})", "min_distinct", f">= {k}",
                               "column missing" if missing(col) else str(v),
                               not missing(col) and v is not None and v >= k))
    for col, r in sorted(exp.ranges.items()):
        lo, hi = obs.get(f"min:{col}"), obs.get(f"max:{col}")
        ok = not missing(col) and (n == 0 or (lo is not None and hi is not None
                                              and (r.min is None or lo >= r.min)
                                              and (r.max is None or hi <= r.max)))
        out.append(CheckResult(f"range({col})", "ranges", f"{_num(r.min)}..{_num(r.max)}",
                               "column missing" if missing(col) else f"{_num(lo)}..{_num(hi)}", ok))
    for col, vals in sorted(exp.placeholders.items()):
        v = obs.get(f"placeholders:{col}")
        out.append(CheckResult(f"placeholders({col})", "placeholders",
                               f"0 rows with {', '.join(repr(x) for x in vals)}",
                               "column missing" if missing(col) else f"{v} rows",
                               not missing(col) and v == 0))
    if exp.coverage is not None:
        col = exp.coverage.column
        lo, hi = obs.get(f"coverage_min:{col}"), obs.get(f"coverage_max:{col}")
        slack = dt.timedelta(days=exp.coverage.tolerance_days)
        ok = (not missing(col) and lo is not None and hi is not None
              and str(lo)[:10] <= (exp.coverage.start + slack).isoformat()
              and str(hi)[:10] >= (exp.coverage.end - slack).isoformat())
        out.append(CheckResult(f"coverage({col})", "coverage",
                               f"{exp.coverage.start}..{exp.coverage.end}",
                               "column missing" if missing(col) else f"{str(lo)[:10]}..{str(hi)[:10]}", ok))
    return out


def load_floors(desired: DesiredState, ref: str) -> list[int]:
    """The row floors (`min_rows`) the loads into a table declare."""
    return [ld.min_rows for ld in desired.loads if ld.table == ref and ld.min_rows is not None]


def expectations_with_floors(desired: DesiredState, ref: str) -> Expectations:
    """A table's merged expectations plus the row floors (`min_rows`) of the loads into it:
    what the planner judges and what the executor's Validate gate re-checks. Pure."""
    exp = desired.expectations_for(ref) or Expectations()
    floors = load_floors(desired, ref)
    if floors and (exp.min_rows is None or max(floors) > exp.min_rows):
        exp = exp.model_copy(update={"min_rows": max(floors)})
    return exp


def _num(v: object) -> str:
    if v is None:
        return "*"
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)
