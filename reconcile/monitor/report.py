"""The status report: a `Status` (reconcile.monitor.status) as text, Markdown or JSON,
and the `reconcile status` command (read, print, exit 0 / 3 needs attention). The
renderers are pure.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from reconcile.monitor.status import TITLES, VIEW_NAMES, Status, read_status
from reconcile.render.md import table_cell


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
    out["tables"] = (["table", "rows", "dates", "distinct dates", "gate"],
                     [[t["table"], _num(t["rows"]), _dates(t["min_date"], t["max_date"]),
                       _num(t["distinct_dates"]) if t["date_column"] else "-", t["gate"] or "-"]
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
                         for r in status.ingestion_rows()], {2, 4, 5})
    # `result` is the gate as judged (Status.gate), never the view's "passed" for a
    # gate that held only because of a known gap or that checked nothing.
    out["expectations"] = (["table", "check", "result", "checked", "detail"],
                           [[r["table_ref"], r["check_name"], r["gate"], _when(r["checked_at"]),
                             (r["detail"] or "")[:120]]
                            for r in status.expectation_rows()], set())
    out["known_gaps"] = (["object", "check", "reason"],
                         [[g["object"], g["check"], "known gap: " + g["reason"]] for g in status.known_gaps()],
                         set())
    return out


def _title(status: Status, key: str) -> str:
    if key == "known_gaps":
        return f"Known gaps (declared for target {status.target}: reported every run, not blocking)"
    return TITLES[key] + (_history(status) if key == "expectations" else "")


def _problem(status: Status, key: str) -> str | None:
    keys = {"tables": ("row_counts", "coverage"), "known_gaps": ()}.get(key, (key,))
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


def render_text(status: Status) -> str:
    lines = [f"Status of {status.project} ({status.target}, read {_when(status.read_at)} UTC)", ""]
    for key, (headers, cells, right) in _rows(status).items():
        if key == "known_gaps" and not cells:
            continue
        lines.append(_title(status, key))
        problem = _problem(status, key)
        if problem:
            lines.append(f"  ({problem})")
        elif not cells:
            lines.append("  (no rows)")
        else:
            lines += _table(headers, cells, right)
        lines.append("")
    lines.append(status.summary())
    return "\n".join(lines) + "\n"


def render_markdown(status: Status) -> str:
    lines = [f"## Status of `{status.project}` ({status.target})", "",
             f"Read {_when(status.read_at)} UTC. **{status.summary()}**", ""]
    for key, (headers, cells, right) in _rows(status).items():
        if key == "known_gaps" and not cells:
            continue
        lines += [f"### {_title(status, key)}", ""]
        problem = _problem(status, key)
        if problem or not cells:
            lines += [f"_{problem or 'no rows'}_", ""]
            continue
        lines.append("| " + " | ".join(headers) + " |")
        lines.append("|" + "|".join("---:" if i in right else "---" for i in range(len(headers))) + "|")
        lines += ["| " + " | ".join(table_cell(c) for c in row) + " |" for row in cells]
        lines.append("")
    return "\n".join(lines)


def render_json(status: Status) -> str:
    """The StatusDocument (docs/schemas/status.schema.json): sorted keys, indent 2."""
    return json.dumps(status.to_dict(), indent=2, sort_keys=True) + "\n"


def run(args) -> int:
    """`reconcile status` (reconcile/cli/main.py): read, print, exit 0 / 3 needs attention."""
    from reconcile.bq.targets import connect
    from reconcile.spec.load import load_spec

    desired = load_spec(args.spec)
    adapter = connect(desired, args.target)
    st = read_status(adapter, desired, target=args.target)
    render = {"json": render_json, "markdown": render_markdown}.get(args.format, render_text)
    sys.stdout.write(render(st))
    return st.exit_code
