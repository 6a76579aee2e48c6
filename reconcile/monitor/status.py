"""`reconcile status`: the warehouse's health, read from its monitoring views.

The spec declares five monitoring views (sql/views/, docs/monitoring.md); this module
finds them among the spec's views by name, reads each with one query through the
Adapter, and renders one compact report: every named table's row count and date
range, the regime distribution of the training tables, ingestion health per source,
and each table's latest expectation results. A view that is not declared, or not
created yet, is reported as such, never guessed at.

    read_status(adapter, desired) -> Status      (I/O: one query per view)
    render_text / render_markdown / render_json  (pure)
    Status.exit_code: 0 healthy, 3 a gate, a source or an unreadable view needs attention

This module does not import Prefect, and reads nothing but the views.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from reconcile import identifiers as ids
from reconcile.snapshot.read import jsonable
from reconcile.bq.sqltext import qtable, render_sql

if TYPE_CHECKING:
    from reconcile.bq.adapter import Adapter
    from reconcile.spec.model import DesiredState

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


@dataclass(frozen=True)
class Status:
    project: str
    target: str
    read_at: str
    sections: dict[str, Section] = field(default_factory=dict)

    # ------------------------------------------------------------ derived
    def tables(self) -> list[dict[str, Any]]:
        """Row counts joined with date coverage, one entry per table."""
        counts = {r["table_ref"]: r for r in self.sections["row_counts"].rows}
        cover = {r["table_ref"]: r for r in self.sections["coverage"].rows}
        out = []
        for ref in sorted(set(counts) | set(cover)):
            c, d = counts.get(ref, {}), cover.get(ref, {})
            rows = c.get("row_count", d.get("row_count"))
            out.append({"table": ref, "rows": rows, "date_column": d.get("date_column"),
                        "min_date": d.get("min_date"), "max_date": d.get("max_date"),
                        "distinct_dates": d.get("distinct_dates")})
        return out

    def failing_expectations(self) -> list[dict[str, Any]]:
        return [r for r in self.sections["expectations"].rows if r.get("result") == "failed"]

    def unhealthy_sources(self) -> list[dict[str, Any]]:
        return [r for r in self.sections["ingestion"].rows if r.get("health") not in ("ok", "known gap")]

    def problems(self) -> list[str]:
        """Views that could not be read (not declared, not created, a query error)."""
        return [f"{s.view or VIEW_NAMES[k]}: {s.problem}" for k, s in self.sections.items() if s.problem]

    @property
    def exit_code(self) -> int:
        bad = self.failing_expectations() or self.unhealthy_sources() or self.problems()
        return EXIT_ATTENTION if bad else EXIT_OK

    def to_dict(self) -> dict[str, Any]:
        return {
            "project": self.project, "target": self.target, "read_at": self.read_at,
            "healthy": self.exit_code == EXIT_OK, "problems": self.problems(),
            "tables": self.tables(),
            "views": {k: {"view": s.view, "problem": s.problem, "rows": list(s.rows)}
                      for k, s in self.sections.items()},
        }


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
        if key == "ingestion":
            rows = [_mark_known_gap(desired, target, r) for r in rows]
        sections[key] = Section(key, ref, tuple(_sorted(key, rows)))
    taken = now or dt.datetime.now(dt.timezone.utc)
    return Status(project=desired.project, target=target, read_at=taken.isoformat(timespec="seconds"),
                  sections=sections)


def _mark_known_gap(desired: DesiredState, target: str, row: dict[str, Any]) -> dict[str, Any]:
    """A missing source the target declared a known gap is shown as such, not as a problem."""
    t = desired.targets.get(target)
    if row.get("health") == "missing" and t is not None and any(
            g.matches(row.get("table_ref") or "", "missing_source") for g in t.known_gaps):
        return {**row, "health": "known gap"}
    return row


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


def _num(v: Any) -> str:
    if v is None:
        return "-"
    try:
        f = float(v)
    except (TypeError, ValueError):
        return str(v)
    return f"{int(f):,}" if f.is_integer() else f"{f:,.4g}"


def _when(v: Any) -> str:
    return "-" if not v else str(v).replace("T", " ")[:16]


def _dates(lo: Any, hi: Any) -> str:
    return "-" if not lo and not hi else f"{str(lo)[:10]}..{str(hi)[:10]}"


def _pct(v: Any) -> str:
    return "-" if v is None else f"{float(v) * 100:.1f}%"


def _table(headers: list[str], rows: list[list[str]], right: set[int] = frozenset()) -> list[str]:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]

    def fmt(cells: list[str]) -> str:
        return "  ".join(c.rjust(w) if i in right else c.ljust(w)
                         for i, (c, w) in enumerate(zip(cells, widths))).rstrip()
    return ["  " + fmt(headers), *("  " + fmt(r) for r in rows)]


def _rows(status: Status) -> dict[str, tuple[list[str], list[list[str]], set[int]]]:
    """Per section: headers, cells, right-aligned columns (shared by text and Markdown)."""
    out: dict[str, tuple[list[str], list[list[str]], set[int]]] = {}
    out["tables"] = (["table", "rows", "dates", "distinct dates"],
                     [[t["table"], _num(t["rows"]), _dates(t["min_date"], t["max_date"]),
                       _num(t["distinct_dates"]) if t["date_column"] else "-"]
                      for t in status.tables()], {1, 3})
    out["regimes"] = (["table", "regime", "rows", "share", "weights", "declared", "in calendar"],
                      [[r["table_ref"], r["regime"] or "(null)", _num(r["row_count"]), _pct(r["row_share"]),
                        _num(r["min_weight"]) if r["min_weight"] == r["max_weight"]
                        else f"{_num(r['min_weight'])}..{_num(r['max_weight'])}",
                        _num(r["calendar_weight"]), "yes" if r["in_calendar"] else "NO"]
                       for r in status.sections["regimes"].rows], {2, 3, 4, 5})
    out["ingestion"] = (["source", "table", "loads", "last success", "last rows", "problems", "health"],
                        [[r["source"], r["table_ref"], _num(r["loads"]), _when(r["last_success_at"]),
                          _num(r["last_rows"]),
                          _num((r["failures"] or 0) + (r["refusals"] or 0) + (r["missing_runs"] or 0)),
                          r["health"]]
                         for r in status.sections["ingestion"].rows], {2, 4, 5})
    out["expectations"] = (["table", "check", "result", "checked", "detail"],
                           [[r["table_ref"], r["check_name"], r["result"], _when(r["checked_at"]),
                             (r["detail"] or "")[:120]]
                            for r in status.sections["expectations"].rows], set())
    return out


def _problem(status: Status, key: str) -> str | None:
    keys = ("row_counts", "coverage") if key == "tables" else (key,)
    probs = [f"{status.sections[k].view or VIEW_NAMES[k]}: {status.sections[k].problem}"
             for k in keys if status.sections[k].problem]
    return "; ".join(probs) or None


def _history(status: Status) -> str:
    rows = status.sections["expectations"].rows
    if not rows:
        return ""
    r = rows[0]
    return (f" - history: {_num(r.get('history_results'))} results in {_num(r.get('history_runs'))} "
            f"runs since {_when(r.get('history_since'))}")


def _summary(status: Status) -> str:
    bad_gates = status.failing_expectations()
    bad_sources = status.unhealthy_sources()
    unread = status.problems()
    if not bad_gates and not bad_sources and not unread:
        return "Healthy: every latest gate passed and every source loaded."
    parts = [f"{len(unread)} view(s) not readable"] if unread else []
    if bad_gates:
        parts.append(f"{len(bad_gates)} failing gate result(s) on "
                     f"{len({r['table_ref'] for r in bad_gates})} table(s)")
    if bad_sources:
        parts.append(f"{len(bad_sources)} source(s) not ok "
                     f"({', '.join(sorted({r['health'] for r in bad_sources}))})")
    return "Needs attention: " + "; ".join(parts) + "."


def render_text(status: Status) -> str:
    lines = [f"Status of {status.project} ({status.target}, read {_when(status.read_at)} UTC)", ""]
    for key, (headers, cells, right) in _rows(status).items():
        title = TITLES[key] + (_history(status) if key == "expectations" else "")
        lines.append(title)
        problem = _problem(status, key)
        if problem:
            lines.append(f"  ({problem})")
        elif not cells:
            lines.append("  (no rows)")
        else:
            lines += _table(headers, cells, right)
        lines.append("")
    lines.append(_summary(status))
    return "\n".join(lines) + "\n"


def _md_cell(v: str) -> str:
    return v.replace("|", "\\|").replace("\n", " ")


def render_markdown(status: Status) -> str:
    lines = [f"## Status of `{status.project}` ({status.target})", "",
             f"Read {_when(status.read_at)} UTC. **{_summary(status)}**", ""]
    for key, (headers, cells, right) in _rows(status).items():
        lines += [f"### {TITLES[key]}{_history(status) if key == 'expectations' else ''}", ""]
        problem = _problem(status, key)
        if problem or not cells:
            lines += [f"_{problem or 'no rows'}_", ""]
            continue
        lines.append("| " + " | ".join(headers) + " |")
        lines.append("|" + "|".join("---:" if i in right else "---" for i in range(len(headers))) + "|")
        lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in cells]
        lines.append("")
    return "\n".join(lines)


def render_json(status: Status) -> str:
    return json.dumps(status.to_dict(), indent=2, sort_keys=True, default=str) + "\n"


__all__ = ["Section", "Status", "VIEW_NAMES", "find_views", "read_status", "render_json", "run",
           "render_markdown", "render_text"]


def run(args) -> int:
    """`reconcile status` (reconcile/cli.py): read, print, exit 0 healthy / 3 attention."""
    import sys

    from reconcile.bq.targets import connect
    from reconcile.spec.model import load_spec

    desired = load_spec(args.spec)
    adapter = connect(desired, args.target)
    st = read_status(adapter, desired, target=args.target)
    render = {"json": render_json, "markdown": render_markdown}.get(args.format, render_text)
    sys.stdout.write(render(st))
    return st.exit_code
