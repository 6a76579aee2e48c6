"""Prefect flows `scheduled-transforms` and `backfill`: the spec's transforms, on a clock
or over a range of dates.

The planner runs a transform when its inputs change; feature engineering that runs
every day (daily aggregation, regime assignment, signal calculations, hidden-
relationship signals from news) runs on a schedule instead. These flows build their
RunTransform actions from the spec and run them through the same pipeline as every
other apply (lease, one task per action with retries, result artifact).

A transform whose SQL names `@run_date` runs for a date (apply/handlers/transforms.py):
a scheduled run's date is the date of its scheduled start time (so a late or re-run
schedule computes the day it was meant for), and `backfill` runs one task per date
of a range. Each date's run MERGEs on the transform's keys, so running a date again
changes nothing.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from typing import Optional

from prefect import flow

from flows.params import Target
from flows.pipeline import DEFAULT_SPEC, run_pipeline, scheduled_transforms
from reconcile.apply.handlers.transforms import takes_run_date
from reconcile.plan.actions import RunTransform
from reconcile.spec.load import flow_spec_path, load_spec

MAX_BACKFILL_DAYS = 366


def scheduled_date() -> dt.date:
    """The date of this flow run's scheduled start (UTC), else today (UTC)."""
    from prefect.runtime import flow_run

    when = None
    try:
        when = flow_run.scheduled_start_time
    except Exception:  # noqa: BLE001 - outside a flow run
        when = None
    if when is None:
        return dt.datetime.now(dt.timezone.utc).date()
    return when.astimezone(dt.timezone.utc).date() if when.tzinfo else when.date()


@flow(name="scheduled-transforms", log_prints=True)
def run_scheduled_transforms(names: tuple[str, ...] = (), spec: str = DEFAULT_SPEC,
                             target: Target = "local", dry_run: bool = False,
                             wait_seconds: float = 300.0, run_date: Optional[dt.date] = None):
    """Run the named scheduled transforms (all scheduled ones if `names` is empty).

    Args:
        names: transforms of the spec to run (empty: every transform with a schedule).
        spec: the desired-state YAML, relative to the project folder.
        target: where BigQuery is: a target the spec declares (`local`: the bundled emulator).
        dry_run: describe what would run, change nothing.
        wait_seconds: how long to wait for another apply on the same project to finish.
        run_date: the date the transforms run for (empty: the date of this run's scheduled time).
    """
    day = run_date or scheduled_date()
    actions = tuple(replace(a, run_date=day.isoformat())
                    for a in scheduled_transforms(load_spec(flow_spec_path(spec)), names))
    # kinds=__none__: only the dated runs built here (a transform the planner also plans,
    # undated, would otherwise run twice).
    return run_pipeline(flow_key="scheduled-transforms", title="Scheduled transforms", spec=spec,
                        target=target, dry_run=dry_run, kinds=("__none__",), extra_actions=actions,
                        wait_seconds=wait_seconds)


def backfill_actions(desired, transform: str, start: dt.date, end: dt.date) -> tuple[RunTransform, ...]:
    """One RunTransform per date from `start` to `end` (inclusive), in date order."""
    if transform not in desired.transforms:
        raise ValueError(f"transform {transform!r} is not in the spec "
                         f"(declared: {', '.join(sorted(desired.transforms)) or 'none'})")
    if end < start:
        raise ValueError(f"backfill: end {end} is before start {start}")
    days = (end - start).days + 1
    if days > MAX_BACKFILL_DAYS:
        raise ValueError(f"backfill: {days} days; at most {MAX_BACKFILL_DAYS} per run")
    tr = desired.transforms[transform]
    if not takes_run_date(desired.path(tr.sql).read_text(encoding="utf-8")):
        raise ValueError(f"transform {transform!r} does not take a run date: its SQL ({tr.sql}) "
                         "never names @run_date")
    return tuple(RunTransform(name=transform, sql_file=tr.sql, outputs=tuple(tr.outputs),
                              reason=f"backfill {start}..{end}", run_date=(start + dt.timedelta(i)).isoformat())
                 for i in range(days))


@flow(name="backfill", log_prints=True)
def backfill(transform: str, start: dt.date, end: dt.date, spec: str = DEFAULT_SPEC,
             target: Target = "local", dry_run: bool = False, wait_seconds: float = 300.0):
    """Run one transform for every date of a range, one task per date, oldest first.

    Idempotent: each date's run MERGEs on the transform's keys, so a second backfill
    of the same range changes nothing.

    Args:
        transform: the transform of the spec to run (its SQL must name @run_date).
        start: the first date to run it for.
        end: the last date to run it for (inclusive; at most 366 days after start).
        spec: the desired-state YAML, relative to the project folder.
        target: where BigQuery is: a target the spec declares (`local`: the bundled emulator).
        dry_run: describe what would run, change nothing.
        wait_seconds: how long to wait for another apply on the same project to finish.
    """
    actions = backfill_actions(load_spec(flow_spec_path(spec)), transform, start, end)
    # kinds=__none__: the plan's own actions are left out; only the dated runs are applied.
    return run_pipeline(flow_key="backfill", title=f"Backfill {transform} {start}..{end}", spec=spec,
                        target=target, dry_run=dry_run, kinds=("__none__",), extra_actions=actions,
                        wait_seconds=wait_seconds)
