"""Table references in SQL text, with their lines, and their rewriting: the reference
scan and `reconcile refs --fix` (issue 17).

Built on the SQL layer's parser (reconcile.spec.sqlparse: sqlglot, BigQuery dialect),
never on patterns over the text:

- `table_refs(text)`: (line, "dataset.table") of every table a SQL text names — common
  table expressions, INFORMATION_SCHEMA and other projects' tables left out;
- `python_sql(source)`: the same for every SQL string literal of a Python file, found
  through Python's own `ast` (a literal that does not parse as a SQL statement naming a
  dataset's table is not SQL; an f-string's literal parts are not read: what it names is
  only known when it runs);
- `rewrite(text, mapping)`: the text with every table in `mapping` renamed, each changed
  statement transformed on its syntax tree and generated again by the parser; the text
  between statements (comments, blank lines) and every unchanged statement kept as written.

Pure: strings in, data out; no file is read here (reconcile.spec.references reads them).
"""

from __future__ import annotations

import ast
from typing import Iterable

from sqlglot import exp

from reconcile.spec.sqlparse import DIALECT, SqlError, split, split_shared, statement_text

# What a SQL statement found in a Python string may be: a query, DML or DDL (a lone
# word or expression parses too, and is not SQL).
_STATEMENTS = (exp.Select, exp.Union, exp.Intersect, exp.Except, exp.Subquery, exp.Insert,
               exp.Update, exp.Delete, exp.Merge, exp.Create, exp.Drop, exp.Alter, exp.TruncateTable)


def _tables(node: exp.Expr, project: str | None) -> Iterable[tuple[exp.Table, str]]:
    """(node, "dataset.table") of each warehouse table a statement names."""
    for t in node.find_all(exp.Table):
        name, ds, catalog = t.name, t.db, t.catalog
        if not name or not ds:
            continue  # a common table expression, an UNNEST alias, a TEMP table: no dataset
        if ds.upper() == "INFORMATION_SCHEMA" or name.upper().startswith("INFORMATION_SCHEMA"):
            continue
        if catalog and project and catalog != project:
            continue  # another project's table: not one of this spec's legacy datasets
        yield t, f"{ds}.{name}"


def _line(t: exp.Table, default: int) -> int:
    return t.this.meta.get("line", default) if isinstance(t.this, exp.Expr) else default


def table_refs(text: str, project: str | None = None) -> list[tuple[int, str]]:
    """(line, "dataset.table") of every table a SQL text names, in order. Raises SqlError
    on text that is not valid GoogleSQL or that the parser can only read as an opaque
    command (nothing can be said about what it reads)."""
    out = []
    for chunk, node in split_shared(text):  # only read here
        if isinstance(node, exp.Command):
            raise SqlError(f"{chunk[0].text.upper()} ...: this statement cannot be read (the parser cannot "
                           "tell what it names)", chunk[0].line)
        out += sorted((_line(t, chunk[0].line), ref) for t, ref in _tables(node, project))
    return out


def _is_sql(text: str, project: str | None) -> list[tuple[int, str]] | None:
    """table_refs of a string if it is SQL naming a dataset's table; None if it is not SQL."""
    if not text.strip() or len(text) > 1_000_000:
        return None
    try:
        stmts = split_shared(text)  # only read here
    except SqlError:
        return None
    if not stmts or not all(isinstance(node, _STATEMENTS) for _, node in stmts):
        return None
    refs = [(_line(t, chunk[0].line), ref) for chunk, node in stmts for t, ref in _tables(node, project)]
    return refs or None


def python_sql(source: str, project: str | None = None) -> list[tuple[int, str]]:
    """(file line, "dataset.table") of every table named by a SQL string literal of a
    Python file. Raises SyntaxError if the file is not Python."""
    tree = ast.parse(source)
    out: list[tuple[int, str]] = []
    in_fstring = {id(v) for node in ast.walk(tree) if isinstance(node, ast.JoinedStr) for v in node.values}
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in in_fstring:
            refs = _is_sql(node.value, project)
            # A string's line N is the file's line lineno + N - 1 (a literal written on one
            # line with escaped newlines is off, and says so by pointing at its start).
            out += [(node.lineno + line - 1, ref) for line, ref in (refs or [])]
    return sorted(out)


def _renamed(t: exp.Table, new: str) -> None:
    ds, table = new.split(".", 1)
    quoted = bool(isinstance(t.this, exp.Identifier) and t.this.quoted)
    t.set("this", exp.to_identifier(table, quoted=quoted))
    db = t.args.get("db")
    t.set("db", exp.to_identifier(ds, quoted=bool(isinstance(db, exp.Identifier) and db.quoted)))


def rewrite(text: str, mapping: dict[str, str], project: str | None = None) -> tuple[str, list[tuple[int, str, str]]]:
    """The text with every table of `mapping` ("dataset.table" -> "dataset.table")
    renamed, and (line, old, new) of each rename. Each statement that names one is
    transformed on its syntax tree and generated again by the parser (BigQuery dialect,
    laid out over lines when it was written over several); everything else is kept as
    written. Raises SqlError on text that does not parse."""
    pieces: list[str] = []
    done: list[tuple[int, str, str]] = []
    pos = 0
    for chunk, node in split(text):
        hits = [(t, ref) for t, ref in _tables(node, project) if ref in mapping]
        if not hits:
            continue
        for t, ref in hits:
            done.append((_line(t, chunk[0].line), ref, mapping[ref]))
            _renamed(t, mapping[ref])
        # Comments before the statement stay in the text around it, not in the new statement.
        # (sqlglot attaches the first token's comments to the statement's node.)
        if chunk[0].comments:
            node.comments = None
        start, end = chunk[0].start, chunk[-1].end + 1
        old = statement_text(text, chunk)
        new = node.sql(dialect=DIALECT, pretty="\n" in old)
        pieces += [text[pos:start], new]
        pos = end
    pieces.append(text[pos:])
    return "".join(pieces), done
