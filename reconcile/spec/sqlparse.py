"""The SQL layer: every SQL text the spec references, read with a real parser.

DDL files, view definitions and transform scripts are parsed with sqlglot's BigQuery
dialect (the parser SQLMesh is built on), statement by statement. From the syntax tree,
never from patterns over the text, `analyze()` returns for each statement:

- its kind ("CREATE TABLE", "MERGE", "SELECT", "DROP TABLE", ...) and the line it starts on;
- the tables it reads, writes and creates ("dataset.table"; common table expressions,
  script-local TEMP tables and INFORMATION_SCHEMA views are not tables of the warehouse);
- why it destroys data, if it does (`destroys`): DROP, TRUNCATE TABLE, DELETE without a
  WHERE (or WHERE TRUE), CREATE OR REPLACE over a table, MERGE ... WHEN NOT MATCHED BY
  SOURCE THEN DELETE without a condition, ALTER TABLE ... DROP COLUMN;
- the references that name another project (`Script.outside`).

Text that does not parse, a statement the parser can only read as an opaque command
(dynamic SQL, CALL, scripting blocks: nothing about them can be checked), a table named
without its dataset, and a write into another project are `SqlError`s: bad input, with
the line. A bounded delete (a DELETE with a WHERE, a WHEN NOT MATCHED BY SOURCE with a
condition) is a write, not destruction: the statement says which rows it removes.

It is a little over 400 lines because it is the one reader of SQL: every rule about
what a statement reads, writes or destroys is in one place, next to the others.

Pure: strings in, data out. No file is read here (the spec loader reads the files and
turns a SqlError into a SpecError naming the file), no BigQuery.
"""

from __future__ import annotations

import functools

import hashlib
import logging
import re
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Iterator

from sqlglot import exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import ParseError, TokenError
from sqlglot.optimizer.simplify import simplify
from sqlglot.tokens import Token, TokenType

DIALECT = Dialect.get_or_raise("bigquery")

# Statement classes the layer knows how to read (anything else is refused).
_QUERIES = (exp.Select, exp.Union, exp.Intersect, exp.Except, exp.Subquery)
_SCRIPT_ONLY = (exp.Declare, exp.Set, exp.Transaction, exp.Commit, exp.Rollback)


class SqlError(ValueError):
    """SQL text that is not valid GoogleSQL, or that this tool cannot check."""

    def __init__(self, message: str, line: int | None = None):
        self.line = line
        self.message = message
        super().__init__(f"line {line}: {message}" if line else message)


@dataclass(frozen=True)
class Statement:
    kind: str  # "CREATE TABLE", "CREATE OR REPLACE VIEW", "MERGE", "SELECT", ...
    line: int
    text: str  # as written: first token to last (comments inside kept, the ';' not)
    reads: tuple[str, ...] = ()  # "dataset.table" (a wildcard table keeps its '*')
    writes: tuple[str, ...] = ()  # tables whose rows or schema it changes (created ones too)
    creates: tuple[str, ...] = ()  # tables or views it creates
    destroys: str | None = None  # why it destroys data, if it does
    node: exp.Expr | None = field(default=None, compare=False, repr=False)
    # What an allow names to let a destructive statement run: its kind and object,
    # "DROP TABLE market_data.fwd_vix_daily", "DROP SCHEMA customer_pii" (never the line:
    # an allow must not move to another statement when lines are inserted above it).
    subject: str | None = None

    @property
    def is_query(self) -> bool:
        return self.kind == "SELECT"


@dataclass(frozen=True)
class Script:
    """One SQL text, parsed: its statements in order, and what they reference."""

    statements: tuple[Statement, ...]
    # (line, "project.dataset.table") of every reference into another project.
    outside: tuple[tuple[int, str], ...] = ()

    def _union(self, attr: str) -> tuple[str, ...]:
        return tuple(dict.fromkeys(r for s in self.statements for r in getattr(s, attr)))

    @property
    def reads(self) -> tuple[str, ...]:
        return self._union("reads")

    @property
    def writes(self) -> tuple[str, ...]:
        return self._union("writes")

    @property
    def creates(self) -> tuple[str, ...]:
        return self._union("creates")

    @property
    def inputs(self) -> tuple[str, ...]:
        """Tables read that the script does not write itself: its upstream data."""
        written = set(self.writes)
        return tuple(r for r in self.reads if r not in written)

    @property
    def destructive(self) -> tuple[tuple[int, str], ...]:
        """(line, why) of every statement that destroys data."""
        return tuple((s.line, s.destroys) for s in self.statements if s.destroys)

    @property
    def destroying(self) -> tuple[tuple[int, str, str], ...]:
        """(line, subject, why) of every statement that destroys data: `subject` is what
        an allow names ("DROP TABLE d.t")."""
        return tuple((s.line, s.subject or s.kind, s.destroys) for s in self.statements if s.destroys)


def text_hash(text: str) -> str:
    """sha256 of a SQL text (UTF-8): what the executor compares with what was planned."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# ---------------------------------------------------------------- parsing


@contextmanager
def _quiet_fallbacks() -> Iterator[None]:
    """sqlglot logs a warning when it falls back to an opaque Command; this layer refuses
    such statements with its own message, so the warning would only repeat it."""
    logger = logging.getLogger("sqlglot")

    def drop(record: logging.LogRecord) -> bool:
        return "Falling back to parsing as a 'Command'" not in record.getMessage()

    logger.addFilter(drop)
    try:
        yield
    finally:
        logger.removeFilter(drop)


def tokenize(text: str) -> list[Token]:
    try:
        return DIALECT.tokenize(text)
    except TokenError as e:
        # sqlglot chains the tokenizer's own error ("Missing ' from 2:17") as the cause; its
        # compiled build (sqlglotc) leaves it as the context only.
        cause = str(e.__cause__ or e.__context__ or e)
        m = re.search(r"from (\d+):\d+", cause)
        what = cause.split(" from ")[0] if m else cause
        raise SqlError(f"cannot read the SQL: {what.replace('Missing', 'missing closing')}",
                       int(m.group(1)) if m else None) from None


def split(text: str) -> list[tuple[list[Token], exp.Expr]]:
    """(tokens, syntax tree) of each statement of a text, in order. Raises SqlError.

    One text is parsed once per process (the loader's gates and the reference scan read the
    same files; the generated master_features SQL alone takes a second or more): the trees
    are cached by the text and each caller gets its own copy, free to transform it."""
    return [(chunk, tree.copy()) for chunk, tree in _split_cached(text)]


def split_shared(text: str) -> tuple[tuple[list[Token], exp.Expr], ...]:
    """As `split`, but the cached trees themselves, not copies: for callers that only read
    them (the reference scan), never transform them. A copy of the generated master_features
    tree alone takes a fifth of a second."""
    return _split_cached(text)


@functools.lru_cache(maxsize=64)
def _split_cached(text: str) -> tuple[tuple[list[Token], exp.Expr], ...]:
    return tuple(_split(text))


def _split(text: str) -> list[tuple[list[Token], exp.Expr]]:
    tokens = tokenize(text)
    chunks: list[list[Token]] = [[]]
    for tok in tokens:
        if tok.token_type == TokenType.SEMICOLON:
            chunks.append([])
        else:
            chunks[-1].append(tok)
    out = []
    with _quiet_fallbacks():
        for chunk in chunks:
            if not chunk:
                continue
            _check_balanced(chunk)
            try:
                trees = DIALECT.parser().parse(chunk, text)
            except ParseError as e:
                err = (e.errors or [{}])[0]
                desc = err.get("description") or str(e).splitlines()[0]
                near = (err.get("highlight") or "").strip()
                raise SqlError(f"not valid GoogleSQL: {desc}" + (f" (near {near!r})" if near else ""),
                               err.get("line") or chunk[0].line) from None
            for tree in trees:
                if tree is not None:
                    out.append((chunk, tree))
    return out


def _check_balanced(chunk: list[Token]) -> None:
    """Parentheses are balanced within a statement (the parser's own message for an
    unclosed one names a token far from the cause)."""
    opened: list[Token] = []
    for tok in chunk:
        if tok.token_type == TokenType.L_PAREN:
            opened.append(tok)
        elif tok.token_type == TokenType.R_PAREN:
            if not opened:
                raise SqlError("unbalanced parentheses: ')' without '('", tok.line)
            opened.pop()
    if opened:
        raise SqlError(f"unbalanced parentheses: {len(opened)} '(' not closed", opened[0].line)


def statement_text(text: str, chunk: list[Token]) -> str:
    return text[chunk[0].start:chunk[-1].end + 1]


# ---------------------------------------------------------------- tables


def _table_of(node: exp.Expr | None) -> exp.Table | None:
    while isinstance(node, exp.Schema):
        node = node.this
    return node if isinstance(node, exp.Table) else None


class _Refs:
    """Turns exp.Table nodes of one script into "dataset.table" references."""

    def __init__(self, project: str | None):
        self.project = project
        self.temp: set[str] = set()  # script-local TEMP tables
        self.outside: list[tuple[int, str]] = []

    def ref(self, t: exp.Table, line: int, local: set[str], *, writing: bool = False) -> str | None:
        """"dataset.table", or None for what is not a warehouse table (a CTE, a TEMP
        table, INFORMATION_SCHEMA, another project's table: reported in `outside`)."""
        name, ds, project = t.name, t.db, t.catalog
        if not name:
            return None
        if name.upper().startswith("INFORMATION_SCHEMA") or ds.upper() == "INFORMATION_SCHEMA":
            return None
        line = t.this.meta.get("line", line) if isinstance(t.this, exp.Expr) else line
        if not ds:
            if name in local or name in self.temp:
                return None
            raise SqlError(f"table {name!r} has no dataset: write `dataset.{name}`", line)
        if project and project != self.project:
            if writing:
                raise SqlError(f"writes `{project}.{ds}.{name}`, outside the project"
                               + (f" {self.project}" if self.project else "")
                               + ": name tables 'dataset.table' (the target's project is used)", line)
            self.outside.append((line, f"{project}.{ds}.{name}"))
            return None
        return f"{ds}.{name}"


def _local_names(node: exp.Expr) -> set[str]:
    """Names a statement defines for itself: its common table expressions. (A correlated
    `alias.array_column` in FROM is read by sqlglot as the UNNEST it is, not as a table.)"""
    return {c.alias for c in node.find_all(exp.CTE) if c.alias}


def _reads(node: exp.Expr | None, refs: _Refs, line: int, local: set[str],
           skip: tuple[exp.Table, ...] = ()) -> list[str]:
    if node is None:
        return []
    out = []
    for t in node.find_all(exp.Table):
        if any(t is s for s in skip):
            continue
        r = refs.ref(t, line, local)
        if r is not None:
            out.append(r)
    return out


def _is_true(node: exp.Expr | None) -> bool:
    """Whether a condition is constantly true (TRUE, 1=1, NOT FALSE, x > 0 OR TRUE, ...):
    folded by sqlglot's simplifier, so a spelled-out tautology is no filter either."""
    if isinstance(node, exp.Where):
        node = node.this
    if node is None:
        return False
    try:
        folded = simplify(node.copy())
    except Exception:  # noqa: BLE001 - a condition the simplifier cannot fold is a filter
        folded = node
    while isinstance(folded, exp.Paren):
        folded = folded.this
    return isinstance(folded, exp.Boolean) and bool(folded.this)


def _statement(chunk: list[Token], node: exp.Expr, text: str, refs: _Refs) -> Statement:
    line = chunk[0].line
    src = statement_text(text, chunk)
    local = _local_names(node)

    def st(kind: str, reads=(), writes=(), creates=(), destroys=None, subject=None) -> Statement:
        writes = tuple(dict.fromkeys(writes))
        if destroys and subject is None:
            subject = f"{kind} {', '.join(writes)}".strip()
        return Statement(kind=kind, line=line, text=src, reads=tuple(dict.fromkeys(reads)),
                         writes=writes, creates=tuple(dict.fromkeys(creates)),
                         destroys=destroys, node=node, subject=subject if destroys else None)

    if isinstance(node, _QUERIES):
        return st("SELECT", reads=_reads(node, refs, line, local))
    if isinstance(node, _SCRIPT_ONLY):
        kind = {exp.Declare: "DECLARE", exp.Set: "SET", exp.Transaction: "BEGIN TRANSACTION",
                exp.Commit: "COMMIT", exp.Rollback: "ROLLBACK"}[type(node)]
        return st(kind, reads=_reads(node, refs, line, local))
    if isinstance(node, exp.Create):
        return _create(node, st, refs, line, local)
    if isinstance(node, (exp.Insert, exp.Update, exp.Delete, exp.Merge)):
        target = _table_of(node.this) or next(iter(node.args.get("tables") or []), None)
        if target is None:
            raise SqlError(f"{type(node).__name__.upper()} without a table to write", line)
        ref = refs.ref(target, line, local, writing=True)
        reads = _reads(node, refs, line, local, skip=(target,))
        kind = type(node).__name__.upper()
        destroys = None
        if isinstance(node, exp.Delete) and (node.args.get("where") is None or _is_true(node.args["where"])):
            destroys = (f"DELETE FROM {ref} without a WHERE deletes every row" if node.args.get("where") is None
                        else f"DELETE FROM {ref} WHERE TRUE deletes every row")
        if isinstance(node, exp.Merge):
            whens = node.args.get("whens")
            for w in (whens.expressions if whens else []):
                if (not w.args.get("matched") and w.args.get("source") and w.args.get("condition") is None
                        and isinstance(w.args.get("then"), exp.Var) and w.args["then"].name.upper() == "DELETE"):
                    destroys = (f"MERGE into {ref} with WHEN NOT MATCHED BY SOURCE THEN DELETE deletes every "
                                "row its source lacks")
        return st(kind, reads=reads, writes=[ref] if ref else [], destroys=destroys if ref else None)
    if isinstance(node, exp.TruncateTable):
        tables = [refs.ref(t, line, local, writing=True) for t in node.expressions if isinstance(t, exp.Table)]
        tables = [t for t in tables if t]
        return st("TRUNCATE TABLE", writes=tables,
                  destroys=f"TRUNCATE TABLE {', '.join(tables)} deletes every row" if tables else None)
    if isinstance(node, exp.Drop):
        kind = str(node.args.get("kind") or "").upper()
        if node.args.get("materialized"):
            kind = "MATERIALIZED " + kind
        target = _table_of(node.this)
        if kind == "SCHEMA":
            ds = (node.this.name or node.this.args.get("db") and node.this.db) if isinstance(node.this, exp.Table) \
                else (node.this.name if isinstance(node.this, exp.Expr) else "")
            return st("DROP SCHEMA", destroys=f"DROP SCHEMA {ds} deletes the dataset and every table in it",
                      subject=f"DROP SCHEMA {ds}")
        ref = refs.ref(target, line, local, writing=True) if target is not None else None
        if ref is None:
            return st(f"DROP {kind}")  # a script-local TEMP table
        return st(f"DROP {kind}", writes=[ref], destroys=f"DROP {kind} {ref}")
    if isinstance(node, exp.Alter):
        target = _table_of(node.this)
        ref = refs.ref(target, line, local, writing=True) if target is not None else None
        actions = node.args.get("actions") or []
        drops = [a for a in actions if isinstance(a, exp.Drop)]
        destroys = None
        if drops and ref:
            destroys = f"ALTER TABLE {ref} DROP {', '.join(d.this.name for d in drops)} deletes a column's data"
        if ref and any(isinstance(a, exp.AlterRename) for a in actions):
            destroys = f"ALTER TABLE {ref} RENAME takes the table away from its name"
        return st(f"ALTER {str(node.args.get('kind') or 'TABLE').upper()}", writes=[ref] if ref else [],
                  destroys=destroys)
    words = " ".join(t.text.upper() for t in chunk[:2])
    raise SqlError(f"{words} ...: this statement cannot be checked (the parser cannot tell what it "
                   "reads or writes); write plain queries, DML and DDL", line)


def _create(node: exp.Create, st, refs: _Refs, line: int, local: set[str]) -> Statement:
    kind = str(node.args.get("kind") or "").upper()
    props = node.args.get("properties")
    prop_types = {type(p) for p in (props.expressions if props else [])}
    temp = exp.TemporaryProperty in prop_types
    if exp.MaterializedProperty in prop_types:
        kind = "MATERIALIZED " + kind
    replace = bool(node.args.get("replace"))
    label = "CREATE " + ("OR REPLACE " if replace else "") + ("TEMP " if temp else "") + kind
    if kind == "SCHEMA":
        raise SqlError("CREATE SCHEMA: datasets are declared in the spec (datasets:), never in SQL", line)
    target = _table_of(node.this)
    if target is None or kind not in ("TABLE", "VIEW", "MATERIALIZED VIEW"):
        raise SqlError(f"{label}: only tables and views can be created here", line)
    if temp:
        if target.db:
            raise SqlError(f"{label} {target.db}.{target.name}: a TEMP table has no dataset", line)
        refs.temp.add(target.name)
        return st(label, reads=_reads(node, refs, line, local, skip=(target,)))
    ref = refs.ref(target, line, local, writing=True)
    reads = _reads(node, refs, line, local, skip=(target,))
    destroys = f"CREATE OR REPLACE TABLE {ref} replaces its data" if replace and kind == "TABLE" else None
    return st(label, reads=reads, writes=[ref] if kind == "TABLE" else [], creates=[ref], destroys=destroys)


def analyze(text: str, project: str | None = None) -> Script:
    """Parse one SQL text (any number of statements). `project`: the spec's project; a
    reference into another one is listed in `outside` (read) or refused (written).
    Raises SqlError (with the line) on text that is not valid GoogleSQL or cannot be checked."""
    refs = _Refs(project)
    statements = tuple(_statement(chunk, node, text, refs) for chunk, node in split(text))
    return Script(statements=statements, outside=tuple(refs.outside))


def query(text: str, project: str | None = None) -> Script:
    """A view's definition: exactly one query (SELECT, WITH, UNION ...). Raises SqlError."""
    script = analyze(text, project)
    if not script.statements:
        raise SqlError("empty view definition")
    if len(script.statements) > 1:
        raise SqlError(f"a view is one query, found {len(script.statements)} statements",
                       script.statements[1].line)
    s = script.statements[0]
    if not s.is_query:
        raise SqlError(f"a view is one query, found {s.kind}", s.line)
    return script


# ---------------------------------------------------------------- DDL files


@dataclass(frozen=True)
class CreatedTable:
    """One CREATE TABLE of a DDL file: its name, statement and columns."""

    table: str  # "dataset.table"
    statement: str  # as written, executed by CreateTable
    line: int
    columns: tuple[tuple[str, str, str], ...]  # (name, type as written, mode)


_CONSTRAINT_WORDS = frozenset({"NOT", "NULL", "OPTIONS", "DEFAULT", "COLLATE", "PRIMARY", "REFERENCES"})


def _written_type(text: str, chunk: list[Token], col: exp.ColumnDef) -> str:
    """A column's type as the file spells it, upper-cased. sqlglot normalises type
    aliases (it reads VARCHAR2(100) as STRING(100)), so whether the type is one BigQuery
    knows is judged on the spelling, delimited by the parsed column: from the token after
    its name to the first constraint keyword or the comma that ends it."""
    start = col.this.meta.get("start")
    i = next((k for k, t in enumerate(chunk) if t.start == start), None)
    if i is None:
        kind = col.args.get("kind")
        return kind.sql(dialect="bigquery").upper() if kind else ""
    depth, j = 0, i + 1
    while j < len(chunk):
        t = chunk[j]
        if t.token_type in (TokenType.L_PAREN, TokenType.LT):
            depth += 1
        elif t.token_type in (TokenType.R_PAREN, TokenType.GT):
            if depth == 0:
                break
            depth -= 1
        elif depth == 0 and (t.token_type == TokenType.COMMA or t.text.upper() in _CONSTRAINT_WORDS):
            break
        j += 1
    if j == i + 1:
        return ""
    return re.sub(r"\s+", " ", text[chunk[i + 1].start:chunk[j - 1].end + 1]).upper().replace("< ", "<").replace(" >", ">")


def ddl_tables(text: str) -> dict[str, CreatedTable]:
    """{'dataset.table': CreatedTable} for every CREATE TABLE of a DDL file. A DDL file
    holds CREATE TABLE statements only, each with a column list, naming 'dataset.table'
    (a project part would create the table elsewhere, whatever the target). Raises SqlError."""
    found: dict[str, CreatedTable] = {}
    refs = _Refs(None)
    for chunk, node in split(text):
        line = chunk[0].line
        src = statement_text(text, chunk)
        short = " ".join(src.split())[:40]
        if not isinstance(node, exp.Create) or str(node.args.get("kind") or "").upper() != "TABLE":
            raise SqlError(f"only CREATE TABLE statements are allowed, found {short!r}", line)
        target = _table_of(node.this)
        if target is None:
            raise SqlError(f"cannot read the table name of {short!r}", line)
        if target.catalog:
            raise SqlError(f"table name '{target.catalog}.{target.db}.{target.name}' names a project: write "
                           "'dataset.table' (the target's project is used)", line)
        ref = refs.ref(target, line, set(), writing=True)
        assert ref is not None
        props = node.args.get("properties")
        if props and any(isinstance(p, exp.TemporaryProperty) for p in props.expressions):
            raise SqlError(f"{ref}: a TEMP table does not outlive its script", line)
        if node.args.get("replace"):
            raise SqlError(f"CREATE OR REPLACE TABLE {ref} replaces its data: write CREATE TABLE IF NOT EXISTS",
                           line)
        if not isinstance(node.this, exp.Schema):
            raise SqlError(f"CREATE TABLE {ref} without a column list", line)
        cols = []
        for c in node.this.expressions:
            if not isinstance(c, exp.ColumnDef):
                continue  # PRIMARY KEY / FOREIGN KEY ... NOT ENFORCED
            typ = _written_type(text, chunk, c)
            kind = c.args.get("kind")
            not_null = any(isinstance(k.args.get("kind"), exp.NotNullColumnConstraint) for k in c.constraints)
            mode = "REPEATED" if (kind is not None and kind.is_type(exp.DataType.Type.ARRAY)) or \
                typ.startswith("ARRAY<") else ("REQUIRED" if not_null else "NULLABLE")
            cols.append((c.name, typ, mode))
        if not cols:
            raise SqlError(f"CREATE TABLE {ref} with no columns", line)
        if ref in found:
            raise SqlError(f"table {ref} created twice", line)
        found[ref] = CreatedTable(ref, src, line, tuple(cols))
    return found
