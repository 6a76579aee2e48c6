"""Loading the desired state: YAML files on disk -> a validated `DesiredState`.

`load_spec(path)` reads one YAML file and the files it `include`s (a key given twice
in one mapping is an error, not PyYAML's silent last-one-wins), validates each with
the strict models of `reconcile.spec.model`, composes them (a name declared in two
files is an error), checks cross-references (every name refers to a declared
dataset, every referenced file exists inside the project) and reads the DDL and
view files once, so nothing downstream reads a file. Every problem is raised as one
`SpecError` naming the file and the field.

This module reads local files only: no BigQuery, no clock, no environment.
"""

from __future__ import annotations

import contextlib
import fnmatch
import gc
import os
import re
import stat
from pathlib import Path
from typing import Any, Callable, Iterator, TypeVar

import yaml
from pydantic import ValidationError

from reconcile import identifiers as ids
from reconcile.spec import features_sql, references, sqlparse
from reconcile.spec.model import _no_case_duplicates
from reconcile.spec.model import (
    DEFAULT_PLACEHOLDERS,
    EXPECTATION_KINDS,
    Archive,
    References,
    DesiredState,
    SpecError,
    SpecFile,
    SqlInfo,
    Target,
    canonical_type,
    is_bigquery_type,
)

T = TypeVar("T")


def _checked(check: Callable[[str], T], value: str, file: str, field: str) -> T:
    """An identifier check whose IdentifierError becomes a SpecError naming the file and field."""
    try:
        return check(value)
    except ids.IdentifierError as e:
        raise SpecError(file, field, str(e)) from None


def _fmt_loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


class _UniqueKeyLoader(yaml.SafeLoader):
    """yaml.safe_load, except that a key given twice in one mapping is an error: PyYAML
    keeps the last one silently, so a table or dataset declared twice would lose the
    first declaration without a word."""

    def construct_mapping(self, node, deep=False):
        seen: dict = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                hash(key)
            except TypeError:
                continue  # unhashable keys fail in the base class with its own message
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping", node.start_mark,
                    f"key {key!r} given twice (first on line {seen[key].line + 1})", key_node.start_mark)
            seen[key] = key_node.start_mark
        return super().construct_mapping(node, deep=deep)


# ---------------------------------------------------------------- a fast path for large specs
#
# PyYAML parses about 0.1 MB a second in Python (its C parser builds the same Python
# nodes and is not much faster), so a spec of 10,000 tables (2.6 MB) took ~30 s. A large
# file is parsed by yaml-rs (Rust) instead, when the result is certainly the one PyYAML
# gives: yaml-rs follows YAML 1.2, PyYAML 1.1, and they differ only on plain scalars
# (yes/no/on/off/y/n booleans, 0-prefixed octal, 0o/0x/0b, 1_000, 1:30 sexagesimal, 1e3
# without a dot, timestamps with a time, the << merge key), on directives and documents,
# and on tags and anchors. A file in which any of those could occur (every distinct word
# of it put to PyYAML's own resolver: `_same_in_yaml11`) takes the PyYAML path, and so does any file yaml-rs refuses (a duplicate
# key included): every error message is PyYAML's, as before. Small files (hand-written,
# and every bad-input case) always take the PyYAML path.

FAST_MIN_BYTES = 64 * 1024
_NOT_FAST = object()
# Spellings of a plain scalar on which YAML 1.1 (PyYAML) and 1.2 (yaml-rs) agree.
_SAFE_TOKEN = re.compile(r"[-+]?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?|true|True|TRUE|false|False|FALSE"
                         r"|~|null|Null|NULL|[0-9]{4}-[0-9]{2}-[0-9]{2}")
# What YAML 1.2's core schema (and yaml-rs's dates) reads as other than a string.
_YAML12_NONSTR = re.compile(r"[-+]?(?:[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)"
                            r"|[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
                            r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)|true|True|TRUE|false|False|FALSE"
                            r"|~|null|Null|NULL|[0-9]{4}-.*")
_TOKENS = re.compile(r"[^\s\[\]{},:#'\"]+")  # a word: what _words(text) returns, as a set
_NEVER = re.compile(r"[0-9]:[0-9]|<<|(?:^|[\s\[{,])\?(?:\s|$)|^\s*(?:---|\.\.\.|%)|(?:^|[\s\[{,:-])[&*!|>]|[\t\r\\]", re.MULTILINE)
# _NEVER.search as _never(text) runs it, one alternative at a time: Python's re tries an
# alternation that starts with a class at every position (230 ms on 2.6 MB), while a
# substring test or a pattern starting with a literal runs at memchr speed. Each
# alternative runs only when a substring every match of it contains is in the text.
_NEVER_QMARK = re.compile(r"(?:^|[\s\[{,])\?(?:\s|$)", re.MULTILINE)
_NEVER_DOC = re.compile(r"^\s*(?:---|\.\.\.|%)", re.MULTILINE)
_NEVER_NODE = re.compile(r"(?:^|[\s\[{,:-])[&*!|>]", re.MULTILINE)
_COLON_DIGIT = re.compile(r":[0-9]")
_NODE_AFTER = frozenset("[{,:-")  # or whitespace, or the start of a line
_WORD_BREAKS = {ord(c): " " for c in "[]{},:#'\""}


def _never(text: str) -> bool:
    """Whether _NEVER matches somewhere in `text` (the same answer, faster)."""
    if "\t" in text or "\r" in text or "\\" in text or "<<" in text:
        return True
    if any(text[m.start() - 1] in "0123456789" for m in _COLON_DIGIT.finditer(text) if m.start()):
        return True
    if "?" in text and _NEVER_QMARK.search(text):
        return True
    if ("---" in text or "..." in text or "%" in text) and _NEVER_DOC.search(text):
        return True
    for c in "&*!|>":
        if c not in text:
            continue
        if text.count(c) > 1000:  # many: the regex, whose time does not grow with them
            if _NEVER_NODE.search(text):
                return True
            break
        i = text.find(c)
        while i >= 0:
            before = text[i - 1] if i else "\n"
            if before.isspace() or before in _NODE_AFTER:
                return True
            i = text.find(c, i + 1)
    return False


def _words(text: str) -> set[str]:
    """set(_TOKENS.findall(text)), faster: split at whitespace first (few distinct pieces in
    a generated spec), then split the distinct pieces at the flow indicators."""
    return set(" ".join(set(text.split())).translate(_WORD_BREAKS).split())


def _same_in_yaml11(text: str) -> bool:
    """Whether every word of `text` that PyYAML would read as other than a string is spelled
    the same in YAML 1.2, and no 1.1-only construct (sexagesimal, merge key, documents,
    directives, complex keys, anchors, aliases, tags, block scalars, tabs, escapes) is there. Conservative:
    words are split at YAML's flow indicators and spaces, so a word inside a quoted or
    multi-word string counts too (it only sends the file to PyYAML)."""
    return not _never(text) and _words_same_in_yaml11(_words(text))


def _words_same_in_yaml11(words: set[str]) -> bool:
    str_tag = "tag:yaml.org,2002:str"
    resolver = yaml.resolver.Resolver()
    for word in words:
        tag = resolver.resolve(yaml.ScalarNode, word, (True, False)) \
            if word[:1] in resolver.yaml_implicit_resolvers else str_tag
        if tag != str_tag and not _SAFE_TOKEN.fullmatch(word):
            return False
        if tag == str_tag and _YAML12_NONSTR.fullmatch(word):
            return False
    return True


# PyYAML reads a plain scalar as a date or timestamp only if it starts with four digits and
# a dash (its timestamp resolver), so a word holds them; sexagesimal times are refused above.
_YEAR_DASH = re.compile(r"[0-9]{4}-")


def _fast_load(text: str) -> Any:
    """The parsed document if the fast path applies to `text` (see above), else _NOT_FAST."""
    if len(text) < FAST_MIN_BYTES or _never(text):
        return _NOT_FAST
    words = _words(text)
    if not _words_same_in_yaml11(words):
        return _NOT_FAST
    try:
        import yaml_rs
    except ImportError:  # pragma: no cover - pinned in pyproject.toml
        return _NOT_FAST
    # Without a date in the text, yaml-rs need not look for one in every scalar (15% of
    # its time): with parse_datetime off it can only give a string where it would have
    # given a date, and PyYAML gives none.
    dates = any(_YEAR_DASH.search(w) for w in words if "-" in w)
    try:
        data = yaml_rs.loads(text, parse_datetime=dates)
    except Exception:  # noqa: BLE001 - refused: PyYAML says why, with its own message
        return _NOT_FAST
    # What is left is what PyYAML's safe loader builds from such a text: dicts with
    # scalar keys (no '?' complex keys), lists, str, int, float, bool, None, dates (a
    # timestamp with a time has a ':' between digits, sent to PyYAML above).
    return data


# Caps on what the loader reads (issue 18: `--spec /dev/zero` took 7.7 GB in 15 s). A
# spec or SQL file is text a person writes; a credentials key file is a few KB.
SPEC_FILE_CAP = 8 << 20
SQL_FILE_CAP = 8 << 20


class FileRefused(ValueError):
    """A path that is not a regular file, or is over its size cap (the message quotes
    none of its content)."""


def read_regular_file(path: str | Path, cap: int) -> bytes:
    """The bytes of a regular file of at most `cap` bytes. A FIFO, a device (/dev/zero),
    a directory or a socket is refused at once, without blocking: the file is opened
    non-blocking and judged on the descriptor (no stat-then-open race), and at most
    cap + 1 bytes are ever read. Raises FileNotFoundError, PermissionError, FileRefused."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            kind = ("a FIFO" if stat.S_ISFIFO(st.st_mode) else "a device" if stat.S_ISCHR(st.st_mode)
                    or stat.S_ISBLK(st.st_mode) else "a directory" if stat.S_ISDIR(st.st_mode)
                    else "a socket" if stat.S_ISSOCK(st.st_mode) else "not a regular file")
            raise FileRefused(f"not a regular file ({kind})")
        if st.st_size > cap:
            raise FileRefused(f"{st.st_size:,} bytes, over the {cap:,}-byte cap")
        chunks, total = [], 0
        while total <= cap:
            chunk = os.read(fd, min(1 << 20, cap + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
        if total > cap:
            raise FileRefused(f"over the {cap:,}-byte cap (it grew while read)")
        return b"".join(chunks)
    finally:
        os.close(fd)


def read_text_file(path: Path, display: str, field: str = "", cap: int = SPEC_FILE_CAP, what: str = "") -> str:
    """A file's UTF-8 text, or a SpecError naming it (never its content)."""
    try:
        return read_regular_file(path, cap).decode("utf-8")
    except FileNotFoundError:
        raise SpecError(display, field, f"{what}file not found") from None
    except FileRefused as e:
        raise SpecError(display, field, f"{what}cannot read: {e}") from None
    except UnicodeDecodeError as e:
        raise SpecError(display, field, f"{what}cannot read: not UTF-8 text ('utf-8' codec: byte {e.start})") from None
    except OSError as e:
        raise SpecError(display, field, f"{what}cannot read: {e.strerror or type(e).__name__}") from None


def _read_yaml(path: Path, display: str) -> dict:
    text = read_text_file(path, display)
    data = _fast_load(text)
    try:
        if data is _NOT_FAST:
            data = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(e, "problem", None) or str(e)
        raise SpecError(display, where, f"malformed YAML: {problem}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise SpecError(display, "", f"expected a mapping at the top, got {type(data).__name__}")
    return data


def _parse_file(path: Path, display: str) -> SpecFile:
    data = _read_yaml(path, display)
    known = set(SpecFile.model_fields)
    if data and not any(isinstance(k, str) and k in known for k in data):
        # Not a spec at all (`--spec /etc/shadow`): its keys are its content, never echoed.
        raise SpecError(display, "", f"not a bq-reconcile spec: none of its {len(data)} top-level key(s) is a "
                        "spec section (version, project, datasets, tables, ...)")
    try:
        return SpecFile.model_validate(data)
    except ValidationError as e:
        err = e.errors()[0]
        field = _fmt_loc(err["loc"])
        if len(field) > 120:
            field = field[:120] + "..."
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown key"
        elif msg.startswith("Value error, "):
            msg = msg[len("Value error, "):]
        extra = f" ({len(e.errors()) - 1} more error(s))" if len(e.errors()) > 1 else ""
        raise SpecError(display, field, msg + extra) from None


def resolve_in_root(root: Path, rel: str, display: str, field: str, must_exist: bool = True) -> Path:
    """Resolve a path from the spec; refuse anything that escapes the project root."""
    if not isinstance(rel, str) or not rel or "\x00" in rel:
        raise SpecError(display, field, "empty or invalid path")
    p = Path(rel)
    if p.is_absolute():
        raise SpecError(display, field, f"absolute path {rel!r} not allowed: give a path inside the project")
    full = (root / p).resolve()
    try:
        full.relative_to(root.resolve())
    except ValueError:
        raise SpecError(display, field, f"path {rel!r} escapes the project directory") from None
    if must_exist and not full.is_file():
        raise SpecError(display, field, f"file {rel!r} not found")
    return full


def flow_spec_path(spec: str) -> Path:
    """A spec path given to a flow as a parameter (anyone who can start a deployment
    chooses it): a .yaml or .yml file inside a project's `desired_state/` folder, no
    `..` in it, a regular file. Anything else (`/etc/shadow`, a FIFO, /dev/zero) is a
    SpecError naming the parameter, never the file's content (issue 18)."""
    from reconcile.spec.model import _printable

    shown = _printable(spec)[:200]
    if not isinstance(spec, str) or not spec or "\x00" in spec or ".." in Path(spec).parts:
        raise SpecError("spec", "", f"flow parameter spec={shown!r}: not a path inside desired_state/")
    path = Path(spec)
    full = (Path.cwd() / path).resolve() if not path.is_absolute() else path.resolve()
    if "desired_state" not in full.parent.parts or full.suffix not in (".yaml", ".yml"):
        raise SpecError("spec", "", f"flow parameter spec={shown!r}: a flow reads only a .yaml spec inside a "
                        "project's desired_state/ folder")
    if not full.is_file():
        raise SpecError("spec", "", f"flow parameter spec={shown!r}: not a regular file")
    return full


def find_root(spec_path: Path) -> Path:
    """The project root: the nearest parent holding pyproject.toml or desired_state/."""
    spec_path = spec_path.resolve()
    for parent in [spec_path.parent, *spec_path.parents]:
        if (parent / "pyproject.toml").exists() or parent.name == "desired_state":
            return parent.parent if parent.name == "desired_state" else parent
    return spec_path.parent


@contextlib.contextmanager
def _gc_deferred() -> Iterator[None]:
    """The cyclic garbage collector held off while a spec loads: a 10,000-table spec builds
    some 300,000 objects, none of them garbage, and the collector's passes over them were
    10% of the load (issue 16). It runs again as soon as the load returns or raises."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def load_spec(path: str | Path, root: str | Path | None = None, *, regenerate: bool = False) -> DesiredState:
    """Load, compose and validate a desired state; raise SpecError on any problem.

    A transform with a `features:` block must have as its SQL file exactly the text
    generated from it (reconcile.spec.features_sql); `regenerate=True` (the generator's
    own load) takes the generated text instead of refusing a stale file."""
    with _gc_deferred():
        return _load_spec(Path(path), root, regenerate)


def _load_spec(path: Path, root: str | Path | None, regenerate: bool) -> DesiredState:
    root_p = Path(root).resolve() if root else find_root(path)

    def display(p: Path) -> str:
        try:
            return str(p.resolve().relative_to(root_p))
        except ValueError:
            return str(p)

    files: list[tuple[Path, SpecFile]] = []
    seen: set[Path] = set()

    def visit(p: Path) -> None:
        rp = p.resolve()
        if rp in seen:
            raise SpecError(display(p), "include", "file included twice (cycle?)")
        seen.add(rp)
        sf = _parse_file(p, display(p))
        files.append((p, sf))
        for i, inc in enumerate(sf.include):
            target = (p.parent / inc).resolve()
            if Path(inc).is_absolute() or not target.is_relative_to(root_p):
                raise SpecError(display(p), f"include[{i}]", f"path {inc!r} escapes the project directory")
            if not target.is_file():
                raise SpecError(display(p), f"include[{i}]", f"file {inc!r} not found")
            visit(target)

    visit(path)
    main_disp = display(path)
    main = files[0][1]
    if not main.project:
        raise SpecError(main_disp, "project", "required in the top-level spec")
    _checked(ids.check_project, main.project, main_disp, "project")
    if not main.default_location:
        raise SpecError(main_disp, "default_location", "required in the top-level spec")
    default_location = _checked(ids.check_location, main.default_location, main_disp, "default_location")

    merged: dict[str, Any] = {
        "targets": {}, "datasets": {}, "tables": {}, "views": {}, "expectations": {},
        "transforms": {}, "loads": [], "migrations": [], "waivers": [],
        "references": References(), "retire": [],
    }
    origin: dict[tuple[str, str], str] = {}
    archive: Archive | None = None
    placeholder_values = list(DEFAULT_PLACEHOLDERS)
    staging_dir = "staging"
    ops_dataset = "ops"
    for p, sf in files:
        d = display(p)
        if p is not files[0][0] and (sf.project or sf.default_location):
            raise SpecError(d, "project" if sf.project else "default_location",
                            "only the top-level spec may set this")
        for section in ("targets", "datasets", "tables", "views", "expectations", "transforms"):
            for name, obj in getattr(sf, section).items():
                if name in merged[section]:
                    raise SpecError(d, f"{section}.{name}",
                                    f"already declared in {origin[(section, name)]}")
                merged[section][name] = obj
                origin[(section, name)] = d
        for i, ld in enumerate(sf.loads):
            merged["loads"].append(ld)
            origin[("loads", str(len(merged["loads"]) - 1))] = f"{d}: loads[{i}]"
        merged["migrations"].extend(sf.migrations)
        merged["waivers"].extend(sf.waivers)
        if sf.references is not None:  # issue 17: scans and waivers of every file, together
            merged["references"] = References(scan=merged["references"].scan + sf.references.scan,
                                              waivers=merged["references"].waivers + sf.references.waivers)
        for ds in sf.retire:
            if ds in merged["retire"]:
                raise SpecError(d, "retire", f"{ds!r} is already retired in another file")
            merged["retire"].append(ds)
        if sf.archive is not None:
            if archive is not None:
                raise SpecError(d, "archive", "declared in more than one file")
            archive = sf.archive
        if sf.placeholder_values is not None:
            placeholder_values = list(sf.placeholder_values)
        if sf.staging_dir:
            staging_dir = sf.staging_dir
        if sf.ops_dataset:
            ops_dataset = sf.ops_dataset

    _check_references(root_p, main_disp, merged, archive, ops_dataset, staging_dir)
    resolved = _resolve_files(root_p, main_disp, merged, main.project, origin, regenerate)
    if not merged["targets"]:
        merged["targets"] = {"local": Target(type="local"), "bigquery": Target(type="bigquery")}

    _check_retire(main_disp, merged, archive, ops_dataset)
    desired = DesiredState(
        project=main.project,
        default_location=default_location,
        ops_dataset=ops_dataset,
        root=str(root_p),
        files=[display(p) for p, _ in files],
        staging_dir=staging_dir,
        placeholder_values=placeholder_values,
        archive=archive,
        **merged,
        **resolved,
    )
    return desired.model_copy(update={"file_references": references.scan(desired, read_text_file)})


def _check_retire(disp: str, m: dict[str, Any], archive: Archive | None, ops_dataset: str) -> None:
    """A retired dataset is a legacy one, archived before it is deleted: never a declared
    dataset, the ops or archive dataset, or one the archive keeps."""
    for i, ds in enumerate(m["retire"]):
        field = f"retire[{i}]"
        if ds in m["datasets"] or ds == ops_dataset:
            raise SpecError(disp, field, f"{ds!r} is a declared dataset: only legacy datasets are retired")
        if archive is None:
            raise SpecError(disp, field, "retiring a dataset archives it first: declare 'archive'")
        if ds == archive.dataset:
            raise SpecError(disp, field, f"{ds!r} is the archive dataset")
        if archive.keeps(ds):
            raise SpecError(disp, field, f"{ds!r} is in archive.keep (archived, never deleted): "
                            "remove it from one of the two")


def _read_sql(root: Path, rel: str, disp: str, field: str, what: str = "") -> str:
    path = resolve_in_root(root, rel, disp, field)
    return read_text_file(path, rel, "", SQL_FILE_CAP, what)


def _sql_error(rel: str, e: sqlparse.SqlError, what: str) -> SpecError:
    return SpecError(rel, f"line {e.line}" if e.line else "", f"{what}{e.message}")


def _info(rel: str, script: sqlparse.Script, text: str = "") -> SqlInfo:
    return SqlInfo(file=rel, statements=[(s.line, s.kind) for s in script.statements],
                   reads=list(script.reads), writes=list(script.writes), creates=list(script.creates),
                   destructive=list(script.destructive), outside=list(script.outside),
                   destroying=list(script.destroying),
                   write_lines=[(s.line, w) for s in script.statements for w in s.writes],
                   sha256=sqlparse.text_hash(text))


def _no_case_dups(names: list[str]) -> None:
    _no_case_duplicates(names, "columns")


def sql_info_of(rel: str, text: str, project: str) -> SqlInfo:
    """A SQL text parsed as the loader does (raises sqlparse.SqlError): the executor's
    re-check of the text it is about to send."""
    return _info(rel, sqlparse.analyze(text, project), text)


def _transform_text(root: Path, disp: str, name: str, tr: Any, regenerate: bool) -> str:
    """A transform's SQL text; for a feature matrix, checked against (or replaced by) the
    text generated from its `features:` block."""
    if tr.features is None:
        return _read_sql(root, tr.sql, disp, f"transforms.{name}.sql")
    generated = features_sql.render(tr.features)
    if regenerate:
        return generated
    text = _read_sql(root, tr.sql, disp, f"transforms.{name}.sql")
    if text != generated:
        raise SpecError(tr.sql, "", f"transform {name}: stale: not the SQL generated from transforms.{name}.features "
                        f"(regenerate it with `{features_sql.GENERATOR}`)")
    return text


def _resolve_files(root: Path, disp: str, m: dict[str, Any], project: str,
                   origin: dict[tuple[str, str], str], regenerate: bool = False) -> dict[str, Any]:
    """Read every SQL file the spec references once, at load time, and parse it
    (reconcile.spec.sqlparse): DDL files give their tables' statements and columns, views
    their reads, transforms their inputs and outputs, which must agree with the lists
    the spec declares (an empty list is filled from the SQL)."""
    statements: dict[str, str] = {}
    cols: dict[str, list[tuple[str, str, str]]] = {}
    info: dict[str, SqlInfo] = {}
    parsed_ddl: dict[str, dict[str, sqlparse.CreatedTable]] = {}
    for ref, t in m["tables"].items():
        if t.ddl is None:
            continue
        field = f"tables.{ref}.ddl"
        if t.ddl not in parsed_ddl:
            text = _read_sql(root, t.ddl, disp, field, "bad DDL: ")
            try:
                parsed_ddl[t.ddl] = sqlparse.ddl_tables(text)
            except sqlparse.SqlError as e:
                raise _sql_error(t.ddl, e, "bad DDL: ") from None
            info[t.ddl] = SqlInfo(file=t.ddl, statements=[(c.line, "CREATE TABLE") for c in parsed_ddl[t.ddl].values()],
                                  reads=[], writes=list(parsed_ddl[t.ddl]), creates=list(parsed_ddl[t.ddl]))
        found = parsed_ddl[t.ddl]
        if ref not in found:
            raise SpecError(disp, field, f"{t.ddl} has no CREATE TABLE for {ref} "
                            f"(it creates: {', '.join(sorted(found)) or 'nothing'})")
        for other, created_other in found.items():
            # A DDL file creates only tables the spec declares (with this file as their DDL).
            decl = m["tables"].get(other)
            if decl is None or decl.ddl != t.ddl:
                raise SpecError(t.ddl, f"line {created_other.line}",
                                f"bad DDL: CREATE TABLE {other}: not declared under 'tables' with ddl: {t.ddl}")
        created = found[ref]
        try:
            _no_case_dups([c[0] for c in created.columns])
        except ValueError as e:
            raise SpecError(t.ddl, f"line {created.line}", f"bad DDL: {ref}: {e}") from None
        for name, typ, _ in created.columns:
            _checked(ids.check_column, name, t.ddl, f"{ref}.{name}")
            if not is_bigquery_type(canonical_type(typ)):
                raise SpecError(t.ddl, f"{ref}.{name}", f"unknown BigQuery type {typ!r}")
        statements[ref] = created.statement
        cols[ref] = list(created.columns)
    views: dict[str, str] = {}
    view_files: dict[str, tuple[str, sqlparse.Script]] = {}  # read and parsed once per file
    for ref, v in m["views"].items():
        if v.sql in view_files:
            text, script = view_files[v.sql]
        else:
            text = _read_sql(root, v.sql, disp, f"views.{ref}.sql").strip().rstrip(";").strip()
            if not text:
                raise SpecError(v.sql, "", "empty view definition")
            try:
                script = sqlparse.query(text, project)
            except sqlparse.SqlError as e:
                raise _sql_error(v.sql, e, f"view {ref}: ") from None
            view_files[v.sql] = text, script
        if script.outside:
            line, other = script.outside[0]
            raise SpecError(v.sql, f"line {line}", f"view {ref}: reads {other}, in another project: a view "
                            f"reads the spec's project ({project}) only")
        views[ref] = text
        if v.sql not in info:
            info[v.sql] = _info(v.sql, script)
    transform_sql: dict[str, str] = {}
    outputs_from_sql: list[str] = []
    for name, tr in list(m["transforms"].items()):
        text = _transform_text(root, disp, name, tr, regenerate)
        try:
            script = sqlparse.analyze(text, project)
        except sqlparse.SqlError as e:
            raise _sql_error(tr.sql, e, f"transform {name}: ") from None
        if not script.statements:
            raise SpecError(tr.sql, "", f"transform {name}: the file holds no statement")
        if script.outside:
            line, other = script.outside[0]
            raise SpecError(tr.sql, f"line {line}", f"transform {name}: reads {other}, in another project: "
                            f"a transform reads the spec's project ({project}) only")
        info.setdefault(tr.sql, _info(tr.sql, script, text))
        transform_sql[name] = text
        if not tr.outputs:
            outputs_from_sql.append(name)
        m["transforms"][name] = _derived_transform(name, tr, script, origin.get(("transforms", name), disp), m)
    return {"ddl_statements": statements, "ddl_columns": cols, "view_sql": views, "sql_info": info,
            "transform_sql": transform_sql, "outputs_from_sql": outputs_from_sql}


def _derived_transform(name: str, tr: Any, script: sqlparse.Script, file: str, m: dict[str, Any]) -> Any:
    """The transform with its inputs and outputs as its SQL says. A declared list must
    agree (inputs: apart from tables the script also writes, which it may list or not);
    an empty one is filled in."""
    def show(refs) -> str:
        return "[" + ", ".join(sorted(refs)) + "]"

    writes, reads = list(script.writes), list(script.inputs)
    if not writes:
        raise SpecError(file, f"transforms.{name}.sql", f"{tr.sql} writes no table: a transform builds its outputs")
    if tr.outputs and set(tr.outputs) != set(writes):
        raise SpecError(file, f"transforms.{name}.outputs",
                        f"declared {show(tr.outputs)}, but {tr.sql} writes {show(writes)}")
    declared_inputs = [i for i in tr.inputs if i not in set(writes)]
    if tr.inputs and set(declared_inputs) != set(reads):
        raise SpecError(file, f"transforms.{name}.inputs",
                        f"declared {show(declared_inputs)}, but {tr.sql} reads {show(reads)}")
    outputs = list(tr.outputs) or writes
    for j, out in enumerate(outputs):
        if out.split(".")[0] not in m["datasets"]:
            raise SpecError(file, f"transforms.{name}.outputs[{j}]",
                            f"dataset {out.split('.')[0]!r} is not declared under 'datasets'")
    for j, fix in enumerate(tr.fixes):
        pattern = fix.rsplit(":", 1)[0]
        if not any(fnmatch.fnmatchcase(o, pattern) for o in outputs):
            raise SpecError(file, f"transforms.{name}.fixes[{j}]",
                            f"{pattern} matches none of the transform's outputs {show(outputs)}: "
                            "a transform fixes only what it writes")
    return tr.model_copy(update={"inputs": list(tr.inputs) or reads, "outputs": outputs})


def _check_references(root: Path, disp: str, m: dict[str, Any], archive: Archive | None,
                      ops_dataset: str, staging_dir: str) -> None:
    """Cross-field rules: every name refers to a declared dataset, every file exists."""
    datasets = m["datasets"]
    _checked(ids.check_dataset, ops_dataset, disp, "ops_dataset")
    folded: dict[str, str] = {}
    for name in datasets:
        _checked(ids.check_dataset, name, disp, f"datasets.{name}")
        # Dataset names are case-sensitive in BigQuery, but two that differ only in case
        # are a typo waiting to happen (https://cloud.google.com/bigquery/docs/datasets#dataset-naming).
        if name.lower() in folded:
            raise SpecError(disp, f"datasets.{name}", f"differs from {folded[name.lower()]!r} only in case: "
                            "one dataset declared twice? Rename one of them")
        folded[name.lower()] = name
    resolve_in_root(root, staging_dir, disp, "staging_dir", must_exist=False)

    def need_dataset(ref_ds: str, field: str) -> None:
        if ref_ds not in datasets:
            raise SpecError(disp, field, f"dataset {ref_ds!r} is not declared under 'datasets'")

    found: set[str] = set()  # files found inside the root: many tables may share a DDL file
    for section in ("tables", "views"):
        for ref, obj in m[section].items():
            ds, _ = _checked(ids.split_table_ref, ref, disp, f"{section}.{ref}")
            need_dataset(ds, f"{section}.{ref}")
            path_field = "ddl" if section == "tables" else "sql"
            rel = getattr(obj, path_field)
            if rel is not None and rel not in found:
                resolve_in_root(root, rel, disp, f"{section}.{ref}.{path_field}")
                found.add(rel)
    for i, ld in enumerate(m["loads"]):
        ds, _ = ids.split_table_ref(ld.table)
        need_dataset(ds, f"loads[{i}].table")
        if ld.table not in m["tables"]:
            raise SpecError(disp, f"loads[{i}].table", f"table {ld.table!r} is not declared under 'tables'")
        resolve_in_root(root, ld.source, disp, f"loads[{i}].source", must_exist=False)
        if not ld.source.endswith((".parquet", ".csv")):
            raise SpecError(disp, f"loads[{i}].source", "staging files must be Parquet (.parquet) or CSV (.csv)")
    for i, mg in enumerate(m["migrations"]):
        need_dataset(mg.to, f"migrations[{i}].to")
    for name, tr in m["transforms"].items():
        resolve_in_root(root, tr.sql, disp, f"transforms.{name}.sql")
        for j, out in enumerate(tr.outputs):
            need_dataset(out.split(".")[0], f"transforms.{name}.outputs[{j}]")
        for j, fix in enumerate(tr.fixes):
            if ":" not in fix:
                raise SpecError(disp, f"transforms.{name}.fixes[{j}]",
                                "expected 'dataset.table_pattern:expectation'")
            _, kind = fix.rsplit(":", 1)
            if kind not in EXPECTATION_KINDS:
                raise SpecError(disp, f"transforms.{name}.fixes[{j}]",
                                f"unknown expectation {kind!r}; one of {sorted(EXPECTATION_KINDS)}")
    for pattern in m["expectations"]:
        if pattern.count(".") != 1 or not re.fullmatch(r"[A-Za-z0-9_*?.-]+", pattern):
            raise SpecError(disp, f"expectations.{pattern}", "expected 'dataset.table_pattern'")
    if archive is not None:
        need_dataset(archive.dataset, "archive.dataset")
        # The archive holds copies of backup datasets; a dataset that holds declared
        # objects (or the ops tables) is a core dataset, not an archive.
        core = ["ops_dataset"] if archive.dataset == ops_dataset else []
        core += [f"{section}.{ref}" for section in ("tables", "views") for ref in m[section]
                 if ref.split(".")[0] == archive.dataset]
        core += [f"migrations[{i}].to" for i, mg in enumerate(m["migrations"]) if mg.to == archive.dataset]
        core += [f"transforms.{n}.outputs" for n, tr in m["transforms"].items()
                 if any(o.split(".")[0] == archive.dataset for o in tr.outputs)]
        if core:
            raise SpecError(disp, "archive.dataset", f"{archive.dataset!r} is a core dataset ({', '.join(core[:3])}"
                            + (", ..." if len(core) > 3 else "") + "): the archive must be a dataset of its own")
    tables_by_load: dict[str, list[int]] = {}
    for i, ld in enumerate(m["loads"]):
        tables_by_load.setdefault(ld.table, []).append(i)
    for table, idx in tables_by_load.items():
        if len(idx) > 1:
            undeclared = [i for i in idx if m["loads"][i].precedence is None]
            precedences = [m["loads"][i].precedence for i in idx if m["loads"][i].precedence is not None]
            if undeclared and len(undeclared) != len(idx):
                raise SpecError(disp, f"loads[{undeclared[0]}].precedence",
                                f"{table} is loaded by {len(idx)} files and some declare a precedence: declare it on all")
            if len(set(precedences)) != len(precedences):
                raise SpecError(disp, f"loads[{idx[-1]}].precedence",
                                f"two loads into {table} declare the same precedence")
    if ops_dataset not in datasets:
        raise SpecError(disp, "ops_dataset", f"dataset {ops_dataset!r} is not declared under 'datasets'")
