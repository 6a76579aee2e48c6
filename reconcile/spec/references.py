"""References to the legacy datasets in files, read when the spec is loaded (issue 17).

Two kinds of file are read: the spec's own SQL files (DDL, views, transforms) and the
files the spec lists under `references.scan` (globs under the project root: `.sql`
files parsed whole, `.py` files' SQL string literals found through Python's `ast`).
Every table they name in a dataset the spec migrates from, archives or retires becomes a
`FileReference` (file, line, table), so the planner and `reconcile refs` never read a
file. A scanned path that leaves the project root (a symlink out, `..`) is refused, as
is a scanned `.sql` file or a `.py` file that does not parse: one message naming the
file and line, exit 1.

Reads files; no BigQuery.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from reconcile.spec import sqlparse, sqlrefs
from reconcile.spec.model import DesiredState, FileReference, SpecError

SCAN_FILE_CAP = 2 * 1024 * 1024  # bytes: a script larger than this is not a script


def scanned_files(desired: DesiredState) -> list[str]:
    """The files `references.scan` lists (relative paths, sorted), each inside the root."""
    root = Path(desired.root).resolve()
    found: set[str] = set()
    for i, pattern in enumerate(desired.references.scan):
        for p in root.glob(pattern):
            full = p.resolve()
            try:
                rel = full.relative_to(root)
            except ValueError:
                raise SpecError(desired.files[0], f"references.scan[{i}]",
                                f"{p.relative_to(root)} leads outside the project directory") from None
            if full.is_file():
                found.add(rel.as_posix())
    return sorted(found)


def scan(desired: DesiredState, read_text: Callable[..., str]) -> list[FileReference]:
    """Every reference to a legacy dataset's table in the spec's SQL files and the scanned
    files, by file and line. `read_text` is the loader's file reader (reconcile.spec.load:
    regular files only, capped, a SpecError naming the file). Raises SpecError (file, line)
    on a file that does not parse."""
    out: list[FileReference] = []
    spec_sql = sorted(desired.sql_info)
    for rel in spec_sql + [f for f in scanned_files(desired) if f not in desired.sql_info]:
        text = read_text(Path(desired.root) / rel, rel, "", SCAN_FILE_CAP, "")
        try:
            if rel.endswith(".py"):
                refs, kind = sqlrefs.python_sql(text, desired.project), "Python"
            else:
                refs = sqlrefs.table_refs(text, desired.project)
                kind = "spec SQL" if rel in desired.sql_info else "SQL file"
        except sqlparse.SqlError as e:
            raise SpecError(rel, f"line {e.line}" if e.line else "", f"reference scan: {e.message}") from None
        except SyntaxError as e:
            raise SpecError(rel, f"line {e.lineno}" if e.lineno else "",
                            f"reference scan: not Python: {e.msg}") from None
        out += [FileReference(file=rel, line=line, table=ref, kind=kind)
                for line, ref in refs if desired.is_legacy(ref.split(".", 1)[0])]
    return out
