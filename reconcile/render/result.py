"""What a plan means for a run, and what a run did: drift, convergence, result reports.

`assess(plan)` sorts a plan's actions into three piles:

- drift: the warehouse differs from the desired state. Either apply would change
  something (a change), or a human must decide (a wrong-region dataset, a schema
  conflict, a failed expectation), or an action is blocked by one of those.
- known gaps: gates the target declared it cannot meet (spec: `targets.<t>.known_gaps`,
  each with a reason — e.g. a source with no data on the local demo): reported every
  run, never counted as drift. The same gate on another target is drift. This keeps
  the flows and the CLI's exit codes in agreement: in sync iff `plan.exit_code() == 0`.
- unmanaged: objects the spec does not own; listed, never touched.

A run has converged when no action failed and the plan read after it has no drift.
The drift-detection flow fails on drift; the reconcile flow fails unless converged.

`render_result_markdown` reports one run (per object: outcome, observed values,
seconds). Pure: strings in, strings out; no I/O, no clock, no Prefect.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

from reconcile.plan.actions import Action, Plan, RunTransform, Unmanaged, Validate
from reconcile.render.describe import describe
from reconcile.render.md import cell

_CELL = 160  # a result cell longer than this is cut


@dataclass(frozen=True)
class Assessment:
    drift: tuple[Action, ...]
    known_gaps: tuple[Action, ...]
    unmanaged: tuple[Action, ...]

    @property
    def in_sync(self) -> bool:
        return not self.drift

    def counts(self) -> dict[str, int]:
        """Drift per action kind, sorted by kind."""
        out: dict[str, int] = {}
        for a in self.drift:
            out[a.kind] = out.get(a.kind, 0) + 1
        return dict(sorted(out.items()))

    def knock_on(self) -> dict[str, str]:
        """The drift items that follow from another one (key -> the key they follow):
        a gate re-checked after a change (Validate), a step blocked by another drifted
        step, a transform re-run because another step changes one of its inputs. The
        rest are the differences the spec itself declares. Pure."""
        by_target: dict[str, str] = {}
        for a in self.drift:
            if not isinstance(a, Validate):
                by_target.setdefault(a.target, a.key)
        keys = {a.key for a in self.drift}
        out: dict[str, str] = {}
        for a in self.drift:
            cause = next((b for b in a.blocked_by if b in keys and b != a.key), None)
            if cause is None and isinstance(a, Validate):
                cause = by_target.get(a.table)
            if cause is None and isinstance(a, RunTransform):
                cause = next((by_target[i] for i in a.inputs if i in by_target), None)
            if cause is not None and cause != a.key:
                out[a.key] = cause
        return out

    @property
    def declared(self) -> tuple[Action, ...]:
        """The differences themselves: drift that does not follow from another drift item."""
        follow = self.knock_on()
        return tuple(a for a in self.drift if a.key not in follow)

    def summary(self) -> str:
        if not self.drift:
            return "no drift"
        main = self.declared
        counts: dict[str, int] = {}
        for a in main:
            counts[a.kind] = counts.get(a.kind, 0) + 1
        more = len(self.drift) - len(main)
        return (f"{len(main)} difference(s): " + ", ".join(f"{k} {n}" for k, n in sorted(counts.items()))
                + (f" (and {more} step(s) that follow from them)" if more else ""))


def assess(plan: Plan) -> Assessment:
    """Sort a plan's actions into drift, known gaps, and unmanaged. Pure."""
    drift, gaps, unmanaged = [], [], []
    for a in plan.actions:
        if isinstance(a, Unmanaged):
            unmanaged.append(a)
        elif a.known_gap is not None:
            gaps.append(a)
        else:
            drift.append(a)
    return Assessment(tuple(drift), tuple(gaps), tuple(unmanaged))


# ---------------------------------------------------------------- run results


@dataclass(frozen=True)
class RunReport:
    """One run of the pipeline, as the flows hand it to the renderer.

    `outcomes` are the executor's Outcome objects (or dicts with the same keys),
    `attempts` maps an action key to the attempts it took, `timings` the seconds
    spent per stage."""

    title: str
    project: str
    target: str
    run_id: str
    converged: bool
    reason: str
    outcomes: Sequence[Any]
    after: Assessment | None
    dry_run: bool = False
    attempts: dict[str, int] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    not_run: Sequence[Action] = ()
    flow_run_url: str | None = None


def _get(o: Any, name: str) -> Any:
    return o.get(name) if isinstance(o, dict) else getattr(o, name)


def format_observed(observed: dict[str, Any] | None) -> str:
    """`rows=6,380; location=us-central1`: observed values, compact, long values cut."""
    if not observed:
        return ""
    parts = []
    for k, v in observed.items():
        if k == "sql":
            continue  # the statement itself is in the repository; keep the table readable
        if isinstance(v, bool) or v is None:
            text = str(v).lower()
        elif isinstance(v, int):
            text = f"{v:,}"
        elif isinstance(v, float):
            text = f"{v:,.3g}"
        elif isinstance(v, (list, tuple, dict)):
            text = json.dumps(v, default=str, sort_keys=True)
        else:
            text = str(v)
        parts.append(f"{k}={text}")
    return "; ".join(parts)


# Plain glyphs, as the plan renderer uses: emoji need a font a browser may not have.
_STATUS_MARK = {"done": "✓", "noop": "=", "dry-run": "~", "skipped": "·", "blocked": "!",
                "failed": "✗", "not run": "…"}


def render_result_markdown(r: RunReport, *, max_rows: int = 300) -> str:
    """The result artifact: verdict, per-object outcomes, what is left, timings."""
    verdict = ("~ dry run" if r.dry_run else "✓ converged" if r.converged else "✗ not converged")
    lines = [f"# {r.title}: {r.project} — {verdict}", ""]
    lines.append(f"{cell(r.reason, 1000)}")
    lines.append("")
    meta = [f"run `{r.run_id}`", f"target `{r.target}`"]
    if r.flow_run_url:
        meta.append(f"[flow run]({r.flow_run_url})")
    lines.append(" · ".join(meta))
    lines.append("")

    counts: dict[str, int] = {}
    for o in r.outcomes:
        counts[_get(o, "status")] = counts.get(_get(o, "status"), 0) + 1
    if r.not_run:
        counts["not run"] = len(r.not_run)
    if counts:
        lines.append("**Outcomes:** " + ", ".join(f"{_STATUS_MARK.get(k, '')} {k} {n}"
                                                   for k, n in sorted(counts.items())))
        lines.append("")
        # One line per object, not a table: the Prefect UI does not wrap table cells and
        # clips wide tables at the right edge; a list wraps. The same outcomes, one column
        # per field, are the run's table artifact (`result_rows`).
        rows = list(r.outcomes)
        for o in rows[:max_rows]:
            lines.append(f"- `{cell(_get(o, 'target'), _CELL)}` · {cell(_get(o, 'kind'), _CELL)} · "
                         + cell(_outcome_text(o, r.attempts.get(_get(o, "key"))), 600))
        for a in list(r.not_run)[: max(0, max_rows - len(rows))]:
            lines.append(f"- `{cell(a.target, _CELL)}` · {a.kind} · "
                         f"{_STATUS_MARK['not run']} not run: it depends on a step that failed")
        hidden = len(rows) + len(r.not_run) - max_rows
        if hidden > 0:
            lines.append("")
            lines.append(f"… and {hidden:,} more (all outcomes are in the ops run_records table)")
        lines.append("")
    else:
        lines.append("Nothing to apply.")
        lines.append("")

    if r.after is not None and not r.dry_run:
        lines.append("## The warehouse after the run")
        lines.append("")
        if r.after.drift:
            lines.append(f"Still different from the desired state ({r.after.summary()}):")
            lines.append("")
            lines.extend(_action_list(r.after.drift))
        else:
            lines.append("No drift: the warehouse matches the desired state.")
        lines.append("")
    if r.after is not None and r.after.known_gaps:
        lines.append("## Known gaps on this target (declared in the spec, with reasons; not drift)")
        lines.append("")
        lines.extend(_action_list(r.after.known_gaps))
        lines.append("")
    if r.after is not None and r.after.unmanaged:
        lines.append(f"{len(r.after.unmanaged)} unmanaged object(s) listed, never touched.")
        lines.append("")
    if r.timings:
        lines.append("**Timings:** " + " · ".join(f"{k} {v:.1f}s" for k, v in r.timings.items()))
        lines.append("")
    return "\n".join(lines)


def _outcome_text(o: Any, attempts: int | None) -> str:
    """`✓ done in 1.23 s: merged 10 rows (rows_before=0; rows_after=6,380; 2 attempts)`."""
    status = _get(o, "status")
    seconds = float(_get(o, "seconds") or 0)
    extra = [x for x in (format_observed(_get(o, "observed")),
                         f"{attempts} attempts" if attempts and attempts > 1 else "") if x]
    took = f" in {seconds:.2f} s" if status in ("done", "failed") or seconds >= 0.005 else ""
    text = f"{_STATUS_MARK.get(status, '')} {status}{took}: {_get(o, 'detail')}"
    return text + (f" ({'; '.join(extra)})" if extra else "")


def result_rows(r: RunReport) -> list[dict[str, Any]]:
    """The run's outcomes as rows of a table (the Prefect table artifact): object, step,
    outcome, detail, observed values, attempts, seconds."""
    out = []
    for o in r.outcomes:
        key = _get(o, "key")
        out.append({"object": _get(o, "target"), "step": _get(o, "kind"), "outcome": _get(o, "status"),
                    "detail": _get(o, "detail"), "observed": format_observed(_get(o, "observed")),
                    "attempts": r.attempts.get(key, 0), "seconds": round(float(_get(o, "seconds") or 0), 2)})
    for a in r.not_run:
        out.append({"object": a.target, "step": a.kind, "outcome": "not run",
                    "detail": "it depends on a step that failed", "observed": "", "attempts": 0,
                    "seconds": 0.0})
    return out


def render_drift_markdown(plan: Plan, a: Assessment, *, target: str, run_id: str,
                          plan_markdown: str) -> str:
    """The drift artifact: what differs, named, then the full plan."""
    lines = [f"# Drift detected: {plan.project} — {a.summary()}", "",
             f"run `{run_id}` · target `{target}` · snapshot {plan.snapshot_taken_at or '?'}", "",
             "## What differs", ""]
    follow = a.knock_on()
    under: dict[str, list[Action]] = {}
    for x in a.drift:
        if x.key in follow:
            root = follow[x.key]
            while root in follow and follow[root] != x.key:  # to the difference it comes from
                root = follow[root]
            under.setdefault(root, []).append(x)
    for x in a.declared:
        lines.extend(_action_list([x]))
        for k in under.get(x.key, []):
            lines.append(f"  - then **{k.kind}** `{cell(k.target, _CELL)}`: {cell(describe(k), 200)}")
    lines.append("")
    if a.known_gaps:
        lines.append(f"Also {len(a.known_gaps)} known gap(s) declared for this target (not drift).")
        lines.append("")
    lines.append("## Plan")
    lines.append("")
    lines.append(plan_markdown)
    return "\n".join(lines)


def _action_list(actions: Iterable[Action], limit: int = 100) -> list[str]:
    actions = list(actions)
    out = [f"- **{a.kind}** `{cell(a.target, _CELL)}`: {cell(describe(a), 300)}"
           + (f" (blocked by {cell(', '.join(a.blocked_by), 200)})" if a.blocked_by else "")
           for a in actions[:limit]]
    if len(actions) > limit:
        out.append(f"- … and {len(actions) - limit:,} more")
    return out
