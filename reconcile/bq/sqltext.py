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


# ---------------------------------------------------------------- relocation by replica

def qlocation(location: str) -> QuotedIdent:
    """A checked location as an identifier (`us-central1`), as ADD/DROP REPLICA name it."""
    return QuotedIdent(f"`{ids.check_location(location)}`")


def qlocation_literal(location: str) -> QuotedIdent:
    """A checked location as a string literal ('us-central1'): DDL options take no parameters;
    a checked location holds only letters, digits and '-'."""
    loc = ids.check_location(location)
    if not re.fullmatch(r"[A-Za-z0-9-]+", loc):
        raise ValueError(f"invalid location {location!r}")
    return QuotedIdent(f"'{loc}'")


def qregion(location: str) -> QuotedIdent:
    loc = ids.check_location(location)
    return QuotedIdent(f"`region-{loc.lower()}`")


# Each replica statement's shape, as sqlglot's BigQuery tokenizer reads it (sqlglot 30 parses
# ALTER SCHEMA ... REPLICA only as an opaque command, so the check is on its tokens): exactly
# these keywords, one dataset path, one location; nothing else (no second statement).
_REPLICA_SHAPES = {
    "add_replica": ["ALTER", "SCHEMA", "<path>", "ADD", "REPLICA", "<ident>", "OPTIONS", "(", "LOCATION", "=",
                    "<string>", ")"],
    "promote": ["ALTER", "SCHEMA", "<path>", "SET", "OPTIONS", "(", "PRIMARY_REPLICA", "=", "<string>", ")"],
    "drop_replica": ["ALTER", "SCHEMA", "<path>", "DROP", "REPLICA", "<ident>"],
}


def replica_statement(step: str, project: str, dataset: str, location: str) -> str:
    """The statement of one replica step (`add_replica`, `promote`: the new location;
    `drop_replica`: the old one), rendered from sql/relocation/ and checked by sqlglot."""
    name = {"add_replica": "add_replica", "promote": "promote_replica", "drop_replica": "drop_replica"}[step]
    sql = statement(f"relocation/{name}.sql", dataset=qdataset(project, dataset), replica=qlocation(location),
                    location=qlocation_literal(location))
    check_replica_statement(step, sql, project, dataset, location)
    return sql


def check_replica_statement(step: str, sql: str, project: str, dataset: str, location: str) -> None:
    """Raise ValueError unless `sql` is exactly the replica step's statement for this dataset
    and location (tokens by sqlglot's BigQuery dialect)."""
    from sqlglot.dialects.bigquery import BigQuery

    tokens = BigQuery().tokenize(sql)
    shape = _REPLICA_SHAPES[step]
    got: list[str] = []
    path: list[str] = []
    i = 0
    while i < len(tokens):
        t = tokens[i]
        if t.token_type.name in ("VAR", "IDENTIFIER") and shape[len(got):len(got) + 1] == ["<path>"]:
            path.append(t.text)
            while i + 2 < len(tokens) and tokens[i + 1].text == "." and \
                    tokens[i + 2].token_type.name in ("VAR", "IDENTIFIER"):
                path.append(tokens[i + 2].text)
                i += 2
            got.append("<path>")
        elif t.token_type.name == "IDENTIFIER" or (t.token_type.name == "VAR" and "<ident>" in shape[len(got):len(got) + 1]):
            got.append("<ident>")
            if t.text.lower() != location.lower():
                raise ValueError(f"{step}: replica {t.text!r} is not {location!r}")
        elif t.token_type.name == "STRING":
            got.append("<string>")
            if t.text.lower() != location.lower():
                raise ValueError(f"{step}: location {t.text!r} is not {location!r}")
        else:
            got.append(t.text.upper())
        i += 1
    if got != shape:
        raise ValueError(f"{step}: statement shape {' '.join(got)} is not {' '.join(shape)}")
    if path != [project, dataset]:
        raise ValueError(f"{step}: dataset {'.'.join(path)} is not {project}.{dataset}")
