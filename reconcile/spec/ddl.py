"""Reading BigQuery DDL files: split statements, find each CREATE TABLE's columns.

The spec may declare a table by a DDL file (`ddl: sql/ddl/x.sql`), executed as
written. To diff such a table against the live one, the planner needs its
columns; this module extracts them with a small parser of the column list
(names, types with nested <...> and (...), NOT NULL). Pure text processing.
"""

from __future__ import annotations

import re

_CREATE = re.compile(
    r"^\s*CREATE\s+(?:OR\s+REPLACE\s+)?TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?(`[^`]+`(?:\.`[^`]+`)*|[\w.-]+)",
    re.IGNORECASE,
)


class DDLError(ValueError):
    pass


def split_statements(text: str) -> list[str]:
    """Split on semicolons outside quotes and comments; drop comments and empties."""
    out, buf, i, n = [], [], 0, len(text)
    quote: str | None = None
    while i < n:
        c = text[i]
        if quote:
            buf.append(c)
            if c == "\\" and i + 1 < n:
                buf.append(text[i + 1])
                i += 2
                continue
            if c == quote:
                quote = None
        elif c in ("'", '"', "`"):
            quote = c
            buf.append(c)
        elif c == "-" and text.startswith("--", i) or c == "#":
            j = text.find("\n", i)
            i = n if j < 0 else j
            continue
        elif c == "/" and text.startswith("/*", i):
            j = text.find("*/", i + 2)
            i = n if j < 0 else j + 2
            continue
        elif c == ";":
            stmt = "".join(buf).strip()
            if stmt:
                out.append(stmt)
            buf = []
        else:
            buf.append(c)
        i += 1
    stmt = "".join(buf).strip()
    if stmt:
        out.append(stmt)
    return out


def table_name(stmt: str) -> str | None:
    """'dataset.table' created by a CREATE TABLE statement (a project part is refused)."""
    m = _CREATE.match(stmt)
    if not m:
        return None
    raw = m.group(1).replace("`", "")
    parts = raw.split(".")
    if len(parts) == 3:
        # Executed as written, a project-qualified name would create the table in that
        # project, whatever the target: names are dataset-qualified only.
        raise DDLError(f"table name {m.group(1)!r} names a project: write 'dataset.table' "
                       "(the target's project is used)")
    if len(parts) != 2:
        raise DDLError(f"table name {m.group(1)!r} must be 'dataset.table'")
    return ".".join(parts)


def _split_top(s: str) -> list[str]:
    parts, depth, buf, quote = [], 0, [], None
    for c in s:
        if quote:
            buf.append(c)
            if c == quote:
                quote = None
            continue
        if c in ("'", '"'):
            quote = c
        elif c in "(<":
            depth += 1
        elif c in ")>":
            depth -= 1
        elif c == "," and depth == 0:
            parts.append("".join(buf).strip())
            buf = []
            continue
        buf.append(c)
    if "".join(buf).strip():
        parts.append("".join(buf).strip())
    return parts


def columns(stmt: str) -> list[tuple[str, str, str]]:
    """(name, type, mode) of each column in a CREATE TABLE statement."""
    m = _CREATE.match(stmt)
    if not m:
        raise DDLError("not a CREATE TABLE statement")
    rest = stmt[m.end():]
    start = rest.find("(")
    if start < 0 or rest[:start].strip():
        raise DDLError("CREATE TABLE without a column list")
    depth = 0
    for i in range(start, len(rest)):
        if rest[i] == "(":
            depth += 1
        elif rest[i] == ")":
            depth -= 1
            if depth == 0:
                body = rest[start + 1:i]
                break
    else:
        raise DDLError("unbalanced parentheses in column list")
    out = []
    for col in _split_top(body):
        cm = re.match(r"`?([A-Za-z_][A-Za-z0-9_]*)`?\s+(.+)$", col, re.DOTALL)
        if not cm:
            raise DDLError(f"cannot read column definition {col[:60]!r}")
        name, rest_def = cm.group(1), cm.group(2).strip()
        if name.upper() in ("PRIMARY", "FOREIGN", "CONSTRAINT"):
            continue
        # The type runs until a top-level keyword (NOT NULL, OPTIONS, DEFAULT, ...).
        depth, end = 0, len(rest_def)
        for i, c in enumerate(rest_def):
            if c in "<(":
                depth += 1
            elif c in ">)":
                depth -= 1
            elif depth == 0 and c.isspace():
                tail = rest_def[i:].lstrip().upper()
                if tail.startswith(("NOT NULL", "OPTIONS", "DEFAULT", "COLLATE", "PRIMARY")):
                    end = i
                    break
        typ = re.sub(r"\s+", " ", rest_def[:end].strip()).upper()
        mode = "REQUIRED" if re.search(r"\bNOT\s+NULL\b", rest_def[end:], re.IGNORECASE) else "NULLABLE"
        if typ.startswith("ARRAY<"):
            mode = "REPEATED"
        out.append((name, typ, mode))
    if not out:
        raise DDLError("CREATE TABLE with no columns")
    return out


def tables_in_file(text: str) -> dict[str, tuple[str, list[tuple[str, str, str]]]]:
    """{'dataset.table': (statement, columns)} for every CREATE TABLE in a file."""
    found = {}
    for stmt in split_statements(text):
        name = table_name(stmt)
        if name is None:
            raise DDLError(f"only CREATE TABLE statements are allowed, found {stmt[:40]!r}")
        if name in found:
            raise DDLError(f"table {name} created twice")
        found[name] = (stmt, columns(stmt))
    return found
