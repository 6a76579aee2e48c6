"""SQL texts: every statement the tool sends lives as a file under `sql/`.

Files are read once and cached. Templates use `${name}` placeholders that are
only ever filled here: with identifiers that have been validated and
backtick-quoted, or with references (`@name`) to named query parameters. Values
always travel as query parameters, never as text.
"""

from __future__ import annotations

import functools
import re
import string
from collections.abc import Sequence
from pathlib import Path

from reconcile import identifiers as ids

SQL_DIR = Path(__file__).resolve().parents[2] / "sql"

# A named query parameter: a letter or underscore, then letters, digits, underscores.
_PARAM = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class QuotedIdent(str):
    """A string that is safe to place in a template: a validated, backtick-quoted
    identifier path, or validated references to named query parameters."""


@functools.lru_cache(maxsize=None)
def load_sql(name: str) -> str:
    path = (SQL_DIR / name).resolve()
    if not path.is_relative_to(SQL_DIR):
        raise ValueError(f"SQL file {name!r} escapes sql/")
    return path.read_text(encoding="utf-8")


def render_sql(name: str, **idents: object) -> str:
    """Fill a template's ${...} placeholders; each must be a QuotedIdent (or a
    list of them, joined by commas)."""
    return render_text(load_sql(name), **idents)


def statement(name: str, **idents: object) -> str:
    """A template rendered as the statement to send: its comment lines (they document
    the file, not the query) dropped before the placeholders are filled."""
    text = "\n".join(line for line in load_sql(name).splitlines() if not line.lstrip().startswith("--"))
    return render_text(text.strip(), **idents)


def render_text(text: str, **idents: object) -> str:
    clean: dict[str, str] = {}
    for k, v in idents.items():
        if isinstance(v, QuotedIdent):
            clean[k] = str(v)
        elif isinstance(v, (list, tuple)) and all(isinstance(x, QuotedIdent) for x in v):
            clean[k] = ", ".join(v)
        else:
            raise TypeError(f"template value {k!r} is not a quoted identifier")
    return string.Template(text).substitute(clean)


def qtable(project: str, dataset: str, table: str) -> QuotedIdent:
    return QuotedIdent(ids.quote(project, dataset, table))


def qdataset(project: str, dataset: str) -> QuotedIdent:
    return QuotedIdent(f"`{ids.check_project(project)}`.`{ids.check_dataset(dataset)}`")


def qcol(name: str) -> QuotedIdent:
    return QuotedIdent(ids.quote_column(name))


def qparam(name: str) -> QuotedIdent:
    """`@name`: where a named query parameter's value goes (the value travels apart)."""
    if not isinstance(name, str) or not _PARAM.match(name):
        raise ValueError(f"invalid query parameter name {name!r}")
    return QuotedIdent("@" + name)


def qrow(names: Sequence[str]) -> QuotedIdent:
    """`(@a, @b)`: one row of a VALUES list, each value a named query parameter."""
    return QuotedIdent("(" + ", ".join(qparam(n) for n in names) + ")")


_REF = re.compile(r"`([^`]+)`\.`([^`]+)`|`([^`.]+)\.([^`.]+)(?:\.[^`]+)?`")


def referenced_datasets(sql: str, project: str) -> list[str]:
    """The datasets of `project` a statement names in the tool's quoting (`p`.`d`[.`t`] or
    `p.d.t`), in order of first mention: where the adapter sends a job with no location."""
    out: dict[str, None] = {}
    for m in _REF.finditer(sql):
        p, d = (m.group(1), m.group(2)) if m.group(1) is not None else (m.group(3), m.group(4))
        if p == project and not d.upper().startswith("INFORMATION_SCHEMA"):
            out.setdefault(d, None)
    return list(out)
