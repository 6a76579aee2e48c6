"""Describe a Plan for people and programs: terminal text, Markdown and JSON.

Three renderers share one registry keyed by the action class (as Alembic's
autogenerate render registry is): each entry turns one action into a one-line,
specific description and a verb ("create", "load", ...) used for the totals.
An action type missing from the registry raises `UnknownAction`, so a new
action cannot be rendered silently as something else.

- `render_text`: the `terraform plan`-like report for a terminal, grouped by
  dataset; ANSI colour only when asked for (the CLI passes `isatty()`).
- `render_markdown`: for pull-request comments and Prefect artifacts; what is
  blocked or destructive comes first, and the output always stays under
  GitHub's 65,536-character comment limit, however large the plan.
- `render_json`: a stable, versioned document for machines.

This module only builds strings: it does no I/O, reads no clock and no
environment, and never touches BigQuery.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from reconcile.plan.registry import ActionRegistry
from reconcile.plan.actions import (
    ACTIONS,
    PHASES,
    Action,
    AddColumns,
    ArchiveDataset,
    BackupTable,
    CreateDataset,
    CreateTable,
    CreateView,
    ExpectationFailed,
    FlagRecreate,
    FlagSchemaConflict,
    MergeLoad,
    MigrateTable,
    MissingSource,
    Plan,
    RefuseLoad,
    RelocateDataset,
    RunTransform,
    Stakes,
    UnknownAction,
    Unmanaged,
    Validate,
)

__all__ = [
    "JSON_SCHEMA_VERSION",
    "MARKDOWN_LIMIT",
    "RENDER_REGISTRY",
    "VERBS",
    "Line",
    "describe",
    "render_json",
    "render_markdown",
    "render_text",
]

JSON_SCHEMA_VERSION = 1

# GitHub rejects a comment body of 65,536 characters or more. The Markdown is
# measured in UTF-8 bytes, never fewer than characters, so the bound holds
# whichever of the two the consumer counts.
MARKDOWN_LIMIT = 65_536

# What a change does, in phase order; the totals line and the JSON summary use these.
VERBS: tuple[str, ...] = (
    "create", "change", "relocate", "back up", "migrate", "load", "transform",
    "validate", "archive",
)
# Verbs of actions that are never changes (they are counted as blocked or unmanaged).
_NON_CHANGE_VERBS = ("flag", "report")

# More unmanaged objects than this in one dataset are folded into one line.
_UNMANAGED_FOLD_AFTER = 3
# Lists inside a description (columns, checks, problems) show this many items.
_LIST_ITEMS = 5
# A Markdown cell longer than this is cut: one huge value must not eat the budget.
_CELL_CHARS = 300


# ---------------------------------------------------------------- registry


@dataclass(frozen=True)
class Line:
    """One action, described: its verb (for totals and symbols) and its text."""

    verb: str
    text: str


A = TypeVar("A", bound=Action)
_Describer = Callable[[Any], Line]

# Keyed by the exact class: a subclass is a new kind of action and must be
# registered, not described as its parent.
DESCRIBERS: ActionRegistry[_Describer] = ActionRegistry("plan descriptions (render)")
RENDER_REGISTRY = DESCRIBERS.mapping()


def _describes(cls: type[A]) -> Callable[[Callable[[A], Line]], Callable[[A], Line]]:
    return DESCRIBERS.register(cls)


def describe_line(action: Action, where: str = "render") -> Line:
    if type(action) not in DESCRIBERS:
        raise UnknownAction(action, where)
    line = DESCRIBERS[action](action)
    if line.verb not in VERBS and line.verb not in _NON_CHANGE_VERBS:
        raise ValueError(f"{type(action).__name__}: unknown verb {line.verb!r}")
    if action.known_gap is not None:
        line = Line(line.verb, f"{line.text} — known gap on this target: {action.known_gap}")
    return line


def describe(action: Action) -> str:
    """The one-line description of an action; raises UnknownAction for an unregistered type."""
    return describe_line(action, "describe").text


# ---------------------------------------------------------------- formatting helpers


def _count(n: int, word: str, plural: str | None = None) -> str:
    return f"{n:,} {word if n == 1 else (plural or word + 's')}"


def _some(items: Sequence[str], sep: str = ", ", limit: int = _LIST_ITEMS) -> str:
    """The first few items, then how many were left out (a 400-column list stays one line)."""
    shown = sep.join(items[:limit])
    if len(items) > limit:
        shown += f"{sep}… (+{len(items) - limit:,} more)"
    return shown


def _short_hash(content_hash: str) -> str:
    algo, _, digest = content_hash.rpartition(":")
    if not algo:
        hexdigits = set("0123456789abcdef")
        algo = "sha256" if len(digest) == 64 and set(digest.lower()) <= hexdigits else "hash"
    return f"{algo} {digest[:8]}…" if len(digest) > 8 else f"{algo} {digest}"


def _stakes(stakes: Stakes) -> str:
    parts = []
    if stakes.tables:
        parts.append(_count(stakes.tables, "table"))
    if stakes.rows:
        parts.append(_count(stakes.rows, "row"))
    return ", ".join(parts)


def _column(name: str, bq_type: str, mode: str = "NULLABLE") -> str:
    return f"{name} {bq_type}" + (f" {mode}" if mode and mode != "NULLABLE" else "")


# ---------------------------------------------------------------- one line per action kind


@_describes(CreateDataset)
def _describe_create_dataset(a: CreateDataset) -> Line:
    return Line("create", f"create dataset {a.name} in {a.location}")


@_describes(FlagRecreate)
def _describe_flag_recreate(a: FlagRecreate) -> Line:
    return Line("flag", f"{a.name} is in {a.actual_location}, must be in {a.desired_location}: "
                        f"recreate needed (approve with --approve-relocation {a.name})")


@_describes(RelocateDataset)
def _describe_relocate_dataset(a: RelocateDataset) -> Line:
    text = (f"relocate dataset {a.name} from {a.from_location} to {a.to_location}: copy out "
            f"{_count(len(a.table_names), 'table')} ({_count(a.rows, 'row')}), verify, "
            f"recreate, copy back, verify")
    if a.resume_step:
        text += f" (resuming at {a.resume_step})"
    return Line("relocate", text)


@_describes(CreateTable)
def _describe_create_table(a: CreateTable) -> Line:
    details = []
    if a.columns:
        details.append(_count(len(a.columns), "column"))
    if a.partition_by:
        details.append(f"partitioned by {a.partition_by}"
                       + (f" ({a.partition_granularity.lower()})" if a.partition_granularity != "DAY" else ""))
    if a.cluster_by:
        details.append(f"clustered by {', '.join(a.cluster_by)}")
    text = f"create table {a.table}"
    if details:
        text += f" ({'; '.join(details)})"
    if a.ddl_file:
        text += f" from {a.ddl_file}"
    return Line("create", text)


@_describes(AddColumns)
def _describe_add_columns(a: AddColumns) -> Line:
    cols = [_column(*c) for c in a.columns]
    return Line("change", f"add {_count(len(cols), 'column')} to {a.table}: {_some(cols)}")


@_describes(FlagSchemaConflict)
def _describe_flag_schema_conflict(a: FlagSchemaConflict) -> Line:
    return Line("flag", f"{a.table}: incompatible schema change, needs a decision: "
                        f"{_some(a.changes, '; ')}")


@_describes(CreateView)
def _describe_create_view(a: CreateView) -> Line:
    if a.replace:
        return Line("change", f"replace view {a.view} (definition differs) from {a.sql_file}")
    return Line("create", f"create view {a.view} from {a.sql_file}")


@_describes(MergeLoad)
def _describe_merge_load(a: MergeLoad) -> Line:
    on = f" on ({', '.join(a.keys)})" if a.keys else " (no merge keys declared)"
    return Line("load", f"merge {a.source} ({_count(a.rows, 'row')}, "
                        f"{_short_hash(a.content_hash)}) into {a.table}{on}")


@_describes(RefuseLoad)
def _describe_refuse_load(a: RefuseLoad) -> Line:
    size = f" ({_count(a.rows, 'row')})" if a.rows else ""
    return Line("flag", f"refuse to load {a.source}{size} into {a.table}: "
                        f"{_some(a.problems, '; ')}")


@_describes(MissingSource)
def _describe_missing_source(a: MissingSource) -> Line:
    return Line("report", f"missing source {a.source} for {a.table}: {a.reason}")


@_describes(BackupTable)
def _describe_backup_table(a: BackupTable) -> Line:
    return Line("back up", f"back up {a.source} -> {a.backup} ({_count(a.rows, 'row')})")


@_describes(MigrateTable)
def _describe_migrate_table(a: MigrateTable) -> Line:
    if a.replace_rows is not None:
        return Line("migrate", f"replace {a.destination} ({_count(a.replace_rows, 'row')}) with "
                               f"a copy of {a.source} ({_count(a.rows, 'row')}), verify counts")
    return Line("migrate", f"copy {a.source} -> {a.destination} ({_count(a.rows, 'row')}), "
                           f"verify counts")


@_describes(ArchiveDataset)
def _describe_archive_dataset(a: ArchiveDataset) -> Line:
    rows = sum(r for _, _, r in a.tables)
    text = (f"archive dataset {a.name} into {a.archive} "
            f"({_count(len(a.tables), 'table')}, {_count(rows, 'row')})")
    if a.delete_source:
        text += f", then delete dataset {a.name}"
    elif a.keep:
        text += ", source kept (archive, never delete)"
    return Line("archive", text)


@_describes(RunTransform)
def _describe_run_transform(a: RunTransform) -> Line:
    outputs = _some(a.outputs) if a.outputs else "(no outputs)"
    return Line("transform", f"run transform {a.name} ({a.sql_file}) -> {outputs}: {a.reason}")


@_describes(Validate)
def _describe_validate(a: Validate) -> Line:
    gaps = f" (known gaps, warn only: {', '.join(k for k, _ in a.known_gaps)})" if a.known_gaps else ""
    return Line("validate", f"validate {a.table}: {_some(a.checks, '; ')}{gaps}")


@_describes(ExpectationFailed)
def _describe_expectation_failed(a: ExpectationFailed) -> Line:
    return Line("report", f"{a.table}: {a.check} expected {a.expected}, observed {a.observed}")


@_describes(Unmanaged)
def _describe_unmanaged(a: Unmanaged) -> Line:
    size = f" ({_count(a.rows, 'row')})" if a.rows else ""
    return Line("report", f"unmanaged {a.object_type} {a.object}{size}: not touched")


DESCRIBERS.verify()


# ---------------------------------------------------------------- shared by all renderers

_VERB_SYMBOL = {
    "create": "+", "change": "~", "transform": "~", "relocate": "!",
    "back up": "⇢", "migrate": "⇢", "load": "⇢", "archive": "⇢",
    "validate": "=", "flag": "✗", "report": "?",
}
_LEGEND = {
    "+": "create", "~": "change", "⇢": "copy or load", "=": "validate",
    "!": "destructive", "-": "delete", "✗": "blocked", "?": "diagnostic",
}


def _symbol(action: Action, line: Line) -> str:
    # Order matters: "blocked" is what the reader must see first, then "destructive".
    if action.is_blocked:
        return "✗"
    if action.diagnostic:
        return "?"
    if action.destructive:
        return "-" if line.verb == "archive" else "!"
    return _VERB_SYMBOL[line.verb]


@dataclass(frozen=True)
class _Item:
    action: Action
    line: Line
    symbol: str


def _items(plan: Plan, where: str) -> list[_Item]:
    # Describe every action before writing anything: an unknown type fails the
    # whole rendering, even where the output would have been truncated.
    out = []
    for a in plan.actions:
        line = describe_line(a, where)
        out.append(_Item(a, line, _symbol(a, line)))
    return out


@dataclass(frozen=True)
class _Tally:
    by_verb: dict[str, int]
    destructive: int  # destructive changes that would run (not blocked)
    blocked: int
    unmanaged: int

    @property
    def changes(self) -> int:
        return sum(self.by_verb.values())


def _tally(plan: Plan, items: Iterable[_Item]) -> _Tally:
    change_ids = {id(a) for a in plan.changes}
    by_verb = {v: 0 for v in VERBS}
    destructive = 0
    for it in items:
        if id(it.action) in change_ids:
            by_verb[it.line.verb] += 1
            destructive += bool(it.action.destructive)
    return _Tally(by_verb, destructive, len(plan.blocked), len(plan.unmanaged))


def _change_phrases(t: _Tally) -> list[str]:
    out = []
    for verb in VERBS:
        n = t.by_verb[verb]
        if not n:
            continue
        out.append(_count(n, "transform") + " to run" if verb == "transform" else f"{n:,} to {verb}")
    if t.destructive:
        out.append(f"{t.destructive:,} destructive")
    return out


def _kind_order() -> dict[type[Action], int]:
    order: dict[type[Action], int] = {}
    for _, types in PHASES:
        for cls in types:
            order.setdefault(cls, len(order))
    for cls in ACTIONS:
        order.setdefault(cls, len(order))
    return order


_KIND_ORDER = _kind_order()


# ---------------------------------------------------------------- terminal

_RESET = "\x1b[0m"
_STYLE = {
    "+": "\x1b[32m", "~": "\x1b[33m", "⇢": "\x1b[36m", "=": "\x1b[34m",
    "!": "\x1b[1;31m", "-": "\x1b[1;31m", "✗": "\x1b[1;31m", "?": "\x1b[35m",
    "header": "\x1b[1m", "dim": "\x1b[2m", "blocked": "\x1b[31m", "total": "\x1b[1m",
}


def render_text(plan: Plan, *, color: bool = False) -> str:
    """A terminal report: actions grouped by dataset (sorted), one line each, then totals."""
    items = _items(plan, "render_text")

    def paint(style: str, s: str) -> str:
        return f"{_STYLE[style]}{s}{_RESET}" if color else s

    header = f"Plan for {plan.project}"
    if plan.snapshot_taken_at:
        header += f" (snapshot {plan.snapshot_taken_at})"
    lines = [paint("header", header)]

    used = []
    for it in items:
        if it.symbol not in used:
            used.append(it.symbol)
    if used:
        legend = ", ".join(f"{paint(s, s)} {_LEGEND[s]}" for s in _LEGEND if s in used)
        lines.append(f"Symbols: {legend}")

    groups: dict[str, list[_Item]] = {}
    for it in items:
        groups.setdefault(it.action.dataset, []).append(it)
    # Sorted by name; actions without a dataset (a transform with no outputs) go last.
    for dataset in sorted(groups, key=lambda d: (d == "", d)):
        lines.append("")
        lines.append(paint("header", dataset or "(no dataset)"))
        group = groups[dataset]
        unmanaged = [it for it in group if isinstance(it.action, Unmanaged)]
        fold = len(unmanaged) > _UNMANAGED_FOLD_AFTER
        for it in group:
            if fold and isinstance(it.action, Unmanaged):
                continue
            text = f"  {paint(it.symbol, it.symbol)} {it.line.text}"
            stakes = _stakes(it.action.stakes)
            if stakes:
                text += "  " + paint("dim", f"[{stakes}]")
            lines.append(text)
            if it.action.blocked_by:
                lines.append("      " + paint("blocked", "blocked by: " + ", ".join(it.action.blocked_by)))
        if fold:
            lines.append(f"  {paint('?', '?')} " + _folded_unmanaged(dataset, unmanaged))

    if plan.notes:
        lines.append("")
        lines.append("Notes:")
        lines.extend(f"  - {note}" for note in plan.notes)

    t = _tally(plan, items)
    lines.append("")
    if t.changes or t.blocked:
        parts = ", ".join(_change_phrases(t)) or "no changes"
        if t.blocked:
            parts += f"; {t.blocked:,} blocked (need approval or attention)"
        if t.unmanaged:
            parts += f"; {t.unmanaged:,} unmanaged (not touched)"
        if plan.known_gaps:
            parts += f"; {len(plan.known_gaps):,} known gap(s) on this target (reported, not blocking)"
        lines.append(paint("total", f"Plan: {parts}."))
    else:
        if t.unmanaged:
            lines.append(f"{t.unmanaged:,} unmanaged (not touched).")
        if plan.known_gaps:
            lines.append(f"{len(plan.known_gaps):,} known gap(s) on this target (declared in the spec "
                         "with reasons; reported, not blocking).")
        lines.append(paint("total", "In sync: nothing to do."))
    return "\n".join(lines) + "\n"


def _folded_unmanaged(dataset: str, items: list[_Item]) -> str:
    objects = [it.action for it in items if isinstance(it.action, Unmanaged)]
    by_type: dict[str, int] = {}
    for a in objects:
        by_type[a.object_type] = by_type.get(a.object_type, 0) + 1
    kinds = ", ".join(_count(n, t) for t, n in sorted(by_type.items()))
    # Unmanaged objects put nothing at stake (never touched), so their size is read
    # from the action itself rather than from `stakes`.
    rows = sum(a.rows for a in objects)
    names = [a.object.removeprefix(f"{dataset}.") for a in objects]
    return (f"{len(objects):,} unmanaged ({kinds}; {_count(rows, 'row')}): "
            f"{_some(names, limit=_UNMANAGED_FOLD_AFTER)}: not touched")


# ---------------------------------------------------------------- Markdown


def _md(value: object, limit: int = _CELL_CHARS) -> str:
    """Escape a value for a Markdown table cell or inline text: no table breaks, no HTML, no code."""
    s = " ".join(str(value).split())  # newlines would end the table row
    if len(s) > limit:
        s = s[: limit - 1] + "…"
    s = s.replace("\\", "\\\\").replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return s.replace("|", "\\|").replace("`", "\\`")


def _size(lines: Sequence[str]) -> int:
    return sum(len(line.encode("utf-8")) + 1 for line in lines)


@dataclass
class _Section:
    """Lines before a table's rows, the rows, and lines after; cut between rows if need be."""

    head: list[str]
    rows: list[str] = field(default_factory=list)
    hidden: int = 0  # rows left out already (max_rows_per_kind)
    foot: list[str] = field(default_factory=list)
    required: bool = False  # always emitted whole (small and bounded)

    def lines(self, shown: int) -> list[str]:
        out = self.head + self.rows[:shown]
        more = self.hidden + len(self.rows) - shown
        if more:
            out.append("")
            out.append(f"… and {more:,} more")
        return out + self.foot


_ROW_HEAD = ["| | object | action | stakes | attention |", "|---|---|---|---|---|"]


def _md_row(it: _Item) -> str:
    reasons = list(it.action.blocked_by)
    if it.action.needs_attention:
        reasons.append("needs a decision")
    if it.action.destructive:
        reasons.append("destructive")
    cells = [it.symbol, _md(it.action.target), _md(it.line.text),
             _md(_stakes(it.action.stakes)), _md("; ".join(reasons))]
    return "| " + " | ".join(cells) + " |"


def render_markdown(plan: Plan, *, max_rows_per_kind: int = 50) -> str:
    """Markdown for a PR comment or a Prefect artifact, always under MARKDOWN_LIMIT.

    Order: a one-line summary, then what is blocked or destructive, then a table of
    counts and stakes per kind, then one folded `<details>` table per kind.
    """
    if max_rows_per_kind < 0:
        raise ValueError("max_rows_per_kind must be >= 0")
    items = _items(plan, "render_markdown")
    t = _tally(plan, items)
    attention = [it for it in items if it.action.is_blocked or it.action.destructive]

    sections: list[_Section] = []

    if t.changes or t.blocked:
        phrases = _change_phrases(t)
        if t.blocked:
            phrases.append(f"{t.blocked:,} blocked")
        summary = f"**{', '.join(phrases)}**"
        first_blocked = next((it for it in items if it.action.is_blocked), None)
        if first_blocked is not None:
            summary += f": {_md(first_blocked.line.text)}"
            if t.blocked > 1:
                summary += f" (and {t.blocked - 1:,} more blocked)"
    else:
        summary = "**In sync: nothing to do.**"
    about = f"Project {_md(plan.project)}"
    if plan.snapshot_taken_at:
        about += f", snapshot {_md(plan.snapshot_taken_at)}"
    about += f", exit code {plan.exit_code()}"
    if t.unmanaged:
        about += f"; {t.unmanaged:,} unmanaged objects (not touched)"
    if plan.known_gaps:
        about += f"; {len(plan.known_gaps):,} known gaps on this target (reported, not blocking)"
    sections.append(_Section([summary, "", about + "."], required=True))

    if attention:
        shown = attention[:max_rows_per_kind]
        sections.append(_Section(
            ["", f"### Blocked or destructive ({len(attention):,})", "", *_ROW_HEAD],
            [_md_row(it) for it in shown], len(attention) - len(shown)))

    by_kind: dict[type[Action], list[_Item]] = {}
    for it in items:
        by_kind.setdefault(type(it.action), []).append(it)
    kinds = sorted(by_kind, key=lambda cls: _KIND_ORDER[cls])

    if items:
        table = ["", "### Summary", "",
                 "| kind | count | tables at stake | rows at stake |", "|---|--:|--:|--:|"]
        total = [0, 0, 0]
        for cls in kinds:
            group = by_kind[cls]
            tables = sum(it.action.stakes.tables for it in group)
            rows = sum(it.action.stakes.rows for it in group)
            total = [total[0] + len(group), total[1] + tables, total[2] + rows]
            table.append(f"| {cls.__name__} | {len(group):,} | {tables:,} | {rows:,} |")
        table.append(f"| **total** | **{total[0]:,}** | **{total[1]:,}** | **{total[2]:,}** |")
        sections.append(_Section(table, required=True))

    for cls in kinds:
        group = by_kind[cls]
        shown = group[:max_rows_per_kind]
        sections.append(_Section(
            ["", f"<details><summary>{cls.__name__} ({len(group):,})</summary>", "", *_ROW_HEAD],
            [_md_row(it) for it in shown], len(group) - len(shown), ["", "</details>"]))

    if plan.notes:
        sections.append(_Section(["", "### Notes", ""], [f"- {_md(n)}" for n in plan.notes]))

    return _fit(sections, MARKDOWN_LIMIT - 1)


_TRUNCATED = ("_Truncated to stay under {limit:,} characters: {rows:,} table rows and "
              "{sections:,} sections left out. The JSON rendering lists every action._")


def _fit(sections: list[_Section], limit: int) -> str:
    """Join sections within `limit` bytes, cutting a table between rows when it must."""
    note_size = _size(["", _TRUNCATED.format(limit=MARKDOWN_LIMIT, rows=10**9, sections=10**9)])
    required_left = sum(_size(s.lines(len(s.rows))) for s in sections if s.required)
    budget = limit - 1 - note_size  # 1: the trailing newline
    out: list[str] = []
    used = 0
    cut_rows = cut_sections = 0
    truncated = False
    for s in sections:
        whole = s.lines(len(s.rows))
        if s.required:
            required_left -= _size(whole)
            out += whole
            used += _size(whole)
            continue
        room = budget - used - required_left
        if truncated:
            cut_sections += 1
            cut_rows += len(s.rows)
            continue
        if _size(whole) <= room:
            out += whole
            used += _size(whole)
            continue
        truncated = True
        # Rows are added one at a time (not re-measured) so a huge table stays linear.
        shown, size = 0, _size(s.lines(0))  # lines(0) carries the longest "… and N more"
        while shown < len(s.rows) and size + _size(s.rows[shown:shown + 1]) <= room:
            size += _size(s.rows[shown:shown + 1])
            shown += 1
        if shown == 0:
            cut_sections += 1
            cut_rows += len(s.rows)
            continue
        part = s.lines(shown)
        out += part
        used += _size(part)
        cut_rows += len(s.rows) - shown
    if truncated:
        out += ["", _TRUNCATED.format(limit=MARKDOWN_LIMIT, rows=cut_rows, sections=cut_sections)]
    text = "\n".join(out) + "\n"
    # The budget arithmetic above is the design; this is the promise.
    assert len(text.encode("utf-8")) <= limit, "render_markdown exceeded its limit"
    return text


# ---------------------------------------------------------------- JSON


def render_json(plan: Plan) -> str:
    """A stable, versioned JSON document: sorted keys, indent 2, actions in plan order.

    Each action is its `to_dict()` plus `text`, the same one-line description the
    other renderers show.
    """
    items = _items(plan, "render_json")
    t = _tally(plan, items)
    counts = {cls.__name__: 0 for cls in ACTIONS}
    for it in items:
        counts[it.action.kind] += 1
    summary: dict[str, Any] = {
        "counts": counts,
        "changes": t.changes,
        "blocked": t.blocked,
        "destructive": sum(1 for it in items if it.action.destructive),
        "diagnostics": sum(1 for it in items if it.action.diagnostic),
        "unmanaged": t.unmanaged,
        **{"to_" + verb.replace(" ", "_"): n for verb, n in t.by_verb.items()},
    }
    actions = []
    for it in items:
        d = it.action.to_dict()
        if "text" in d:
            raise ValueError(f"{it.action.kind} has a field named 'text', which render_json uses")
        d["text"] = it.line.text
        actions.append(d)
    doc = {
        "schema_version": JSON_SCHEMA_VERSION,
        "project": plan.project,
        "snapshot_taken_at": plan.snapshot_taken_at,
        "notes": list(plan.notes),
        "exit_code": plan.exit_code(),
        "summary": summary,
        "actions": actions,
    }
    return json.dumps(doc, sort_keys=True, indent=2) + "\n"
