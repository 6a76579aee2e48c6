"""SQL texts: every statement the tool sends lives as a file under `sql/`.

Files are read once and cached. Templates use `${name}` placeholders that are
only ever filled with identifiers that have been validated and backtick-quoted
here; values always travel as query parameters, never as text.
"""

from __future__ import annotations

import functools
import string
from pathlib import Path

from reconcile import identifiers as ids

SQL_DIR = Path(__file__).resolve().parents[2] / "sql"


class QuotedIdent(str):
    """A string that is already a validated, backtick-quoted identifier path."""


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
