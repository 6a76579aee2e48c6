"""`reconcile status`: the warehouse's health, read from its monitoring views.

The spec declares five monitoring views (sql/views/, docs/monitoring.md); this module
finds them among the spec's views by name, reads each with one query through the
Adapter, and renders one compact report: every named table's row count, date range
and latest gate, the regime distribution of the training tables, ingestion health per
source, each table's latest expectation results, and the known gaps failing now with
their reasons. A view that is not declared, or not created yet, is reported as such,
never guessed at.

    read_status(adapter, desired) -> Status      (I/O: one query per view)
    reconcile.monitor.report: render_text / render_markdown / render_json (pure)
    Status.exit_code: 0 nothing needs attention, 3 something does

What it says is meant to be true, so it says "Healthy" only when nothing is missing,
failing or unchecked: every gated table's latest gate checked something and passed,
every declared source loaded, no known gap. A gate or source the target declares it
cannot meet (spec: targets.<t>.known_gaps) is shown as a known gap with its reason,
never as passed, and does not need attention (as in the plan, exit 0). A gate that
was blocked ("not checked"), that checked nothing ("no checks"), or that no run has
checked ("never checked") is unchecked, never passed. Needs attention (exit 3): a
view not readable, a failing or blocked gate, a source failed, refused, missing or
never loaded, known gaps excepted.

The JSON is the `StatusDocument` model of reconcile.render.schemas
(docs/schemas/status.schema.json). This module does not import Prefect, and reads
nothing but the views (and the spec).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from reconcile import identifiers as ids
from reconcile.bq.sqltext import qtable, render_sql
from reconcile.plan.expectations import load_floors
from reconcile.render.schemas import STATUS_SCHEMA_VERSION, StatusDocument
from reconcile.snapshot.model import jsonable

if TYPE_CHECKING:
    from reconcile.bq.adapter import Adapter
    from reconcile.spec.model import DesiredState, KnownGap

log = logging.getLogger(__name__)

# The monitoring views status reads, by table name (in any dataset of the spec).
VIEW_NAMES = {
    "row_counts": "table_row_counts",
    "coverage": "date_coverage",
    "regimes": "regime_distribution",
    "ingestion": "ingestion_health",
    "expectations": "data_quality",
}
TITLES = {
    "tables": "Tables",
    "regimes": "Regime distribution",
    "ingestion": "Ingestion",
    "expectations": "Expectations (latest results per table)",
}
EXIT_OK, EXIT_ATTENTION = 0, 3


@dataclass(frozen=True)
class Section:
    """One view's rows, or why there are none."""

    key: str
    view: str | None  # dataset.view, None if the spec declares no such view
    rows: tuple[dict[str, Any], ...] = ()
    problem: str | None = None  # 'not declared', 'not created yet', or a query error


# A table's latest gate, worst first: a table with several latest results shows the worst.
GATE_ORDER = ("failed", "not checked", "known gap", "no checks", "passed")
UNCHECKED = ("not checked", "no checks", "never checked")
# "N check(s) passed; K known gap(s): <check> observed <value> (<reason>); ..." (the Validate handler)
_GAPS_IN_DETAIL = re.compile(r"(\d+) known gap\(s\)(?:: (.*))?", re.S)
_CHECKS_IN_DETAIL = re.compile(r"^(\d+) check\(s\)")


@dataclass(frozen=True)
class Gate:
    """One latest gate result, judged: its state and the known gaps it fails on."""

    state: str  # one of GATE_ORDER
    gaps: tuple[tuple[str, str], ...] = ()  # (check, reason)


@dataclass(frozen=True)
class Status:
    """The views' rows as read, plus what the spec says about them: the target's known
    gaps, the tables it gates (`gated`), the sources it declares (`declared_loads`).
    Everything else is derived from these, purely."""

    project: str
    target: str
    read_at: str
    sections: dict[str, Section] = field(default_factory=dict)
    known_gap_rules: tuple[KnownGap, ...] = ()
    gated: tuple[str, ...] = ()
    declared_loads: tuple[tuple[str, str], ...] = ()  # (table, source)

    # ------------------------------------------------------------ known gaps
    def _gap_reason(self, table: str, check: str) -> str | None:
        kind = check.split("(")[0]
        return next((g.reason for g in self.known_gap_rules if g.matches(table, kind)), None)

    def gate(self, row: dict[str, Any]) -> Gate:
        """A latest gate result (a data_quality row) judged: a failure on a declared known
        gap is a known gap, a pass that only held because of one is too, a gate that checked
        nothing is 'no checks', a blocked one 'not checked'."""
        result, table = row.get("result"), row.get("table_ref") or ""
        check, detail = row.get("check_name") or "", row.get("detail") or ""
        if result == "failed":
            reason = self._gap_reason(table, check) if row.get("kind") == "ExpectationFailed" else None
            return Gate("known gap", ((check, reason),)) if reason else Gate("failed")
        if result != "passed":
            return Gate("not checked")
        observed = _json_object(row.get("observed"))
        checks = observed.get("observed")
        declared = observed.get("known_gaps")
        if isinstance(declared, dict) and declared:  # structured, if the gate records it
            return Gate("known gap", tuple(sorted((str(c), str(r)) for c, r in declared.items())))
        m = _GAPS_IN_DETAIL.search(detail)
        if m and int(m.group(1)) > 0:
            text = m.group(2) or ""
            gaps = tuple((c, r) for c in (checks if isinstance(checks, dict) else {})
                         if (r := self._gap_reason(table, c)) is not None and f"{c} observed" in text)
            return Gate("known gap", gaps or (("all", text or detail),))
        n = len(checks) if isinstance(checks, dict) else None
        if n is None and (c := _CHECKS_IN_DETAIL.match(detail)):
            n = int(c.group(1))
        return Gate("no checks") if n == 0 else Gate("passed")

    def expectation_rows(self) -> list[dict[str, Any]]:
        """The latest gate results, each with its judged `gate` and `known_gap` (reasons)."""
        out = []
        for r in self.sections["expectations"].rows:
            g = self.gate(r)
            out.append({**r, "gate": g.state,
                        "known_gap": "; ".join(f"{c}: {why}" for c, why in g.gaps) or None})
        return out

    def ingestion_rows(self) -> list[dict[str, Any]]:
        """Ingestion per source; a missing source the target declared a known gap has
        health 'known gap' and its reason in `known_gap`."""
        out = []
        for r in self.sections["ingestion"].rows:
            reason = (self._gap_reason(r.get("table_ref") or "", "missing_source")
                      if r.get("health") == "missing" else None)
            out.append({**r, "health": "known gap" if reason else r.get("health"), "known_gap": reason})
        return out

    # ------------------------------------------------------------ derived
    def tables(self) -> list[dict[str, Any]]:
        """Row counts joined with date coverage, one entry per table, with its latest gate."""
        counts = {r["table_ref"]: r for r in self.sections["row_counts"].rows}
        cover = {r["table_ref"]: r for r in self.sections["coverage"].rows}
        gates = self.table_gates()
        out = []
        for ref in sorted(set(counts) | set(cover)):
            c, d = counts.get(ref, {}), cover.get(ref, {})
            rows = c.get("row_count", d.get("row_count"))
            out.append({"table": ref, "rows": rows, "date_column": d.get("date_column"),
                        "min_date": d.get("min_date"), "max_date": d.get("max_date"),
                        "distinct_dates": d.get("distinct_dates"), "gate": gates.get(ref)})
        return out

    def table_gates(self) -> dict[str, str]:
        """Table -> its latest gate (the worst of its latest results), 'never checked' for
        a table the spec gates that no run has checked. Tables with neither are absent."""
        out: dict[str, str] = {}
        for r in self.expectation_rows():
            ref = r.get("table_ref") or ""
            prev = out.get(ref)
            if prev is None or GATE_ORDER.index(r["gate"]) < GATE_ORDER.index(prev):
                out[ref] = r["gate"]
        if not self.sections["expectations"].problem:  # unreadable: already needs attention
            for ref in self.gated:
                out.setdefault(ref, "never checked")
        return dict(sorted(out.items()))

    def failing_expectations(self) -> list[dict[str, Any]]:
        return [r for r in self.expectation_rows() if r["gate"] == "failed"]

    def unhealthy_sources(self) -> list[dict[str, Any]]:
        return [r for r in self.ingestion_rows() if r.get("health") not in ("ok", "known gap")]

    def unloaded(self) -> list[tuple[str, str, str | None]]:
        """Declared sources with no ingestion row at all (no load, no problem recorded):
        (table, source, known-gap reason or None)."""
        if self.sections["ingestion"].problem:
            return []
        seen = {(r.get("table_ref"), r.get("source")) for r in self.sections["ingestion"].rows}
        return [(t, s, self._gap_reason(t, "missing_source"))
                for t, s in sorted(self.declared_loads) if (t, s) not in seen]

    def known_gaps(self) -> list[dict[str, str]]:
        """Every known gap failing now, with its reason: sources, then gate checks."""
        out = {(r["table_ref"], "missing_source", r["known_gap"]) for r in self.ingestion_rows() if r["known_gap"]}
        out |= {(t, "missing_source", why) for t, _, why in self.unloaded() if why}
        for r in self.expectation_rows():
            if r["gate"] == "known gap":
                out |= {(r["table_ref"], c, why) for c, why in self.gate(r).gaps}
        return [{"object": o, "check": c, "reason": why}
                for o, c, why in sorted(out, key=lambda g: (g[1] != "missing_source", g[0], g[1]))]

    def unchecked(self) -> list[dict[str, str]]:
        """Tables whose gate vouches for nothing: blocked, no checks, or never checked."""
        why = {"not checked": "the latest gate was blocked", "no checks": "the latest gate checked nothing",
               "never checked": "the spec gates it; no run has checked it"}
        return [{"table": t, "gate": g, "detail": why[g]} for t, g in self.table_gates().items() if g in UNCHECKED]

    def problems(self) -> list[str]:
        """Views that could not be read (not declared, not created, a query error)."""
        return [f"{s.view or VIEW_NAMES[k]}: {s.problem}" for k, s in self.sections.items() if s.problem]

    def attention(self) -> list[str]:
        """What needs a human, one phrase each (empty: exit 0)."""
        out = []
        if self.problems():
            out.append(f"{len(self.problems())} view(s) not readable")
        bad_gates = self.failing_expectations()
        if bad_gates:
            out.append(f"{len(bad_gates)} failing gate result(s) on "
                       f"{len({r['table_ref'] for r in bad_gates})} table(s)")
        bad_sources = self.unhealthy_sources()
        if bad_sources:
            out.append(f"{len(bad_sources)} source(s) not ok "
                       f"({', '.join(sorted({str(r['health']) for r in bad_sources}))})")
        unloaded = [f"{t} <- {s}" for t, s, why in self.unloaded() if why is None]
        if unloaded:
            out.append(f"{len(unloaded)} declared source(s) never loaded ({_names(unloaded)})")
        blocked = [u["table"] for u in self.unchecked() if u["gate"] == "not checked"]
        if blocked:
            out.append(f"{len(blocked)} table(s) whose latest gate was blocked, not checked ({_names(blocked)})")
        return out

    def reservations(self) -> list[str]:
        """What keeps the status from 'Healthy' without needing attention: known gaps,
        tables with no checks or never checked."""
        out = []
        gaps = self.known_gaps()
        if gaps:
            sources = sum(1 for g in gaps if g["check"] == "missing_source")
            parts = ([f"{sources} missing source(s)"] if sources else []) + \
                ([f"{len(gaps) - sources} failing check(s)"] if len(gaps) > sources else [])
            out.append(f"{len(gaps)} known gap(s) declared for target {self.target} ({', '.join(parts)})")
        for state, phrase in (("no checks", "whose latest gate had no checks"),
                              ("never checked", "gated by the spec and never checked")):
            tables = [u["table"] for u in self.unchecked() if u["gate"] == state]
            if tables:
                out.append(f"{len(tables)} table(s) {phrase} ({_names(tables)})")
        return out

    @property
    def healthy(self) -> bool:
        """Nothing missing, failing or unchecked, and no known gap."""
        return not self.attention() and not self.reservations()

    @property
    def exit_code(self) -> int:
        return EXIT_ATTENTION if self.attention() else EXIT_OK

    def summary(self) -> str:
        attention, reservations = self.attention(), self.reservations()
        if attention:
            also = f"; also {'; '.join(reservations)}" if reservations else ""
            return "Needs attention: " + "; ".join(attention) + also + "."
        if reservations:
            return "Not healthy, nothing needs attention: " + "; ".join(reservations) + "."
        return "Healthy: every latest gate passed and every source loaded."

    def to_dict(self) -> dict[str, Any]:
        """The JSON document, built by its model (reconcile.render.schemas.StatusDocument)."""
        rows = {"expectations": self.expectation_rows(), "ingestion": self.ingestion_rows()}
        doc = StatusDocument(
            schema_version=STATUS_SCHEMA_VERSION, project=self.project, target=self.target,
            read_at=self.read_at, healthy=self.healthy, needs_attention=bool(self.attention()),
            exit_code=self.exit_code, summary=self.summary(), problems=self.problems(),
            known_gaps=self.known_gaps(), unchecked=self.unchecked(),
            unloaded=[f"{t} <- {s}" for t, s, why in self.unloaded() if why is None],
            tables=self.tables(),
            views={k: {"view": s.view, "problem": s.problem, "rows": rows.get(k, list(s.rows))}
                   for k, s in self.sections.items()})
        return doc.model_dump(mode="json")


def _names(names: list[str], limit: int = 5) -> str:
    more = f", and {len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


def _json_object(v: Any) -> dict[str, Any]:
    if isinstance(v, dict):
        return v
    try:
        parsed = json.loads(v) if isinstance(v, str) else None
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


# ====================================================================== reading


def find_views(desired: DesiredState) -> dict[str, str | None]:
    """Section key -> the spec's view of that name (dataset.view), or None."""
    by_name: dict[str, str] = {}
    for ref in sorted(desired.views):
        by_name.setdefault(ref.split(".", 1)[1], ref)
    return {key: by_name.get(name) for key, name in VIEW_NAMES.items()}


def read_status(adapter: Adapter, desired: DesiredState, *, target: str = "local",
                now: dt.datetime | None = None) -> Status:
    """Read every monitoring view the spec declares (one query each, in its dataset's
    location). Existence is checked first with one table list per dataset: the local
    BigQuery answers a query on a missing table with no rows instead of an error
    (docs/emulator.md), which would read as 'empty'."""
    views = find_views(desired)
    listed: dict[str, dict[str, str]] = {}
    locations: dict[str, str | None] = {}
    sections: dict[str, Section] = {}
    for key, ref in views.items():
        if ref is None:
            sections[key] = Section(key, None, problem=f"no view named {VIEW_NAMES[key]} in the spec")
            continue
        ds, name = ids.split_table_ref(ref)
        if ds not in locations:
            locations[ds] = adapter.dataset_location(ds)
            listed[ds] = dict(adapter.list_tables(ds)) if locations[ds] else {}
        if listed[ds].get(name) != "VIEW":
            sections[key] = Section(key, ref, problem="not created yet: run reconcile apply")
            continue
        template = "status/latest_expectations.sql" if key == "expectations" else "status/read_view.sql"
        sql = render_sql(template, view=qtable(adapter.project, ds, name))
        try:
            rows = adapter.query(sql, location=locations[ds], what=f"status {ref}")
        except Exception as e:  # noqa: BLE001 - one view's error is reported, the rest still read
            log.warning("status: %s: %s", ref, e)
            sections[key] = Section(key, ref, problem=str(e).splitlines()[0])
            continue
        rows = [{k: jsonable(v) for k, v in r.items()} for r in rows]
        sections[key] = Section(key, ref, tuple(_sorted(key, rows)))
    taken = now or dt.datetime.now(dt.timezone.utc)
    t = desired.targets.get(target)
    return Status(project=desired.project, target=target, read_at=taken.isoformat(timespec="seconds"),
                  sections=sections, known_gap_rules=tuple(t.known_gaps) if t else (),
                  gated=gated_tables(desired),
                  declared_loads=tuple(sorted({(ld.table, ld.source) for ld in desired.loads})))


def gated_tables(desired: DesiredState) -> tuple[str, ...]:
    """The tables the spec names that have a gate (expectations or a load's row floor), in
    declared datasets: those the planner validates (as plan.compare.transforms does, for
    the tables the spec names; a table matched only by a pattern is not named)."""
    named = set(desired.tables) | {o for tr in desired.transforms.values() for o in tr.outputs}
    out = []
    for ref in sorted(named):
        if ref.split(".", 1)[0] not in desired.datasets:
            continue
        exp = desired.expectations_for(ref)
        if (exp is not None and not exp.is_empty()) or load_floors(desired, ref):
            out.append(ref)
    return tuple(out)


def _sorted(key: str, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    if key == "regimes":
        return sorted(rows, key=lambda r: (r.get("table_ref") or "", r.get("first_date") or "",
                                           r.get("regime") or ""))
    if key == "ingestion":
        return sorted(rows, key=lambda r: (r.get("source_kind") or "", r.get("table_ref") or "",
                                           r.get("source") or ""))
    if key == "expectations":
        return sorted(rows, key=lambda r: (r.get("table_ref") or "", r.get("check_name") or ""))
    return sorted(rows, key=lambda r: r.get("table_ref") or "")


# ====================================================================== rendering



__all__ = ["Gate", "Section", "Status", "VIEW_NAMES", "find_views", "gated_tables", "read_status"]
