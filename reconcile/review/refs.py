"""`reconcile refs`: what still reads a legacy dataset, and the cutover of SQL files.

The references come from reconcile.plan.references (live views and routines, the spec's
SQL files, the files under `references.scan`). `report` renders them (text, Markdown,
JSON); `fix` rewrites the SQL files among them through the parser
(reconcile.spec.sqlrefs.rewrite: each table renamed on the syntax tree and the statement
generated again, never a text replacement) and returns a unified diff per file. Live
views and routines are never changed here, nor any file outside the project root or a
Python file (its SQL strings are reported with their line, for a human to change).

Writes only the SQL files `fix` is asked to rewrite; no BigQuery (the caller reads the
snapshot).
"""

from __future__ import annotations

import difflib
import json
from pathlib import Path

from reconcile.plan.references import Reference
from reconcile.render.md import cell
from reconcile.spec.load import read_text_file, resolve_in_root
from reconcile.spec.model import DesiredState, SpecError
from reconcile.spec import sqlparse, sqlrefs

EXIT_OK, EXIT_ERROR, EXIT_REFERENCED = 0, 1, 3


def exit_code(refs: list[Reference]) -> int:
    """0: nothing unwaived reads a legacy dataset; 3: references remain."""
    return EXIT_REFERENCED if any(r.waived is None for r in refs) else EXIT_OK


def _line(r: Reference) -> str:
    tail = f" — waived: {r.waived}" if r.waived else (" — `reconcile refs --fix` rewrites it" if r.fixable else "")
    return r.describe() + tail


def report(refs: list[Reference], fmt: str, legacy: list[str], *, views_read: bool = True) -> str:
    open_ = [r for r in refs if r.waived is None]
    if fmt == "json":
        return json.dumps({"legacy_datasets": legacy, "views_and_routines_read": views_read,
                           "references": [r.to_dict() for r in refs],
                           "remaining": len(open_), "waived": len(refs) - len(open_)}, indent=2) + "\n"
    head = (f"{len(refs)} reference(s) to the legacy datasets ({', '.join(legacy) or 'none'}): "
            f"{len(open_)} remaining, {len(refs) - len(open_)} waived")
    if not refs:
        head = f"No reference to the legacy datasets ({', '.join(legacy) or 'none'})."
    warn = [] if views_read else ["(the snapshot holds no scan of views and routines: only files were read)"]
    if fmt == "markdown":
        rows = [f"| {cell(r.where)} | {r.kind} | `{cell(r.legacy)}` | {cell(r.new or '—')} | "
                f"{cell(r.waived or '')} |" for r in refs]
        table = ["", "| where | kind | legacy object | new name | waived |", "|---|---|---|---|---|"] + rows \
            if refs else []
        return "\n".join(["### References to legacy datasets", "", head] + warn + table) + "\n"
    return "\n".join([head] + warn + [f"  {_line(r)}" for r in refs]) + "\n"


def fix(desired: DesiredState, refs: list[Reference]) -> list[tuple[str, str]]:
    """Rewrite every SQL file holding a fixable reference; (file, unified diff) of each
    file changed. Raises SpecError (file, line) on a file that does not parse."""
    by_file: dict[str, dict[str, str]] = {}
    for r in refs:
        if r.fixable and r.new is not None:
            by_file.setdefault(r.holder, {})[r.legacy] = r.new
    root = Path(desired.root)
    out = []
    for rel, mapping in sorted(by_file.items()):
        path = resolve_in_root(root, rel, rel, "")  # inside the project, or refused
        text = read_text_file(path, rel, "")
        try:
            new, done = sqlrefs.rewrite(text, mapping, desired.project)
        except sqlparse.SqlError as e:
            raise SpecError(rel, f"line {e.line}" if e.line else "", f"refs --fix: {e.message}") from None
        if not done or new == text:
            continue
        path.write_text(new, encoding="utf-8")
        diff = "".join(difflib.unified_diff(text.splitlines(keepends=True), new.splitlines(keepends=True),
                                            fromfile=f"a/{rel}", tofile=f"b/{rel}"))
        out.append((rel, diff))
    return out
