"""What a change to the desired state does to the spec: added, removed, modified.

`reconcile spec-diff --base REF` loads the spec as it was at a git ref (the spec
file and every file it includes or references, DDL and view SQL, extracted with
`git archive` into a temporary folder, so it is validated by the same models)
and the spec in the working tree, and compares them object by object, the way
migra's `differences()` compares two inspections: datasets, tables (with their
columns), views, loads, migrations, the archive, expectations, transforms,
targets, settings and lint waivers. Field-level detail comes from deepdiff.

A change is *destructive* when it can lose data or weaken a gate: a dataset or
table dropped from the spec, a location changed, a column dropped or its type
changed, a merge key changed, a migration's backup turned off, the archive told
to delete more, an expectation loosened (a lower floor, a wider range, fewer
placeholder values, a shorter coverage, a gate removed).

Reading the two specs does I/O (git, local files); `diff()` itself is pure and
needs no credentials and no BigQuery. What a destructive change puts at stake in
rows is resolved later against a snapshot (`Change.stakes`, see prcomment.py).
"""

from __future__ import annotations

import difflib
import io
import json
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Literal

from deepdiff import DeepDiff

from reconcile import identifiers as ids
from reconcile.spec.origins import Origins
from reconcile.spec.model import DesiredState, Expectations, SpecError, find_root, load_spec

SECTIONS = ("settings", "targets", "datasets", "tables", "views", "loads", "migrations", "archive",
            "expectations", "transforms", "waivers")
_SYMBOL = {"added": "+", "removed": "-", "modified": "~", "renamed": "→"}


class GitError(RuntimeError):
    """git could not give the spec at the base ref (no repository, unknown ref)."""


@dataclass(frozen=True)
class Stake:
    """An object a change puts at risk; rows are looked up in a snapshot later."""

    kind: Literal["dataset", "table", "datasets", "tables"]  # plural: a name pattern
    name: str


@dataclass(frozen=True)
class Change:
    section: str
    object: str
    change: Literal["added", "removed", "modified", "renamed"]
    details: tuple[str, ...] = ()
    destructive: tuple[str, ...] = ()  # why, one reason each
    file: str = ""
    field: str = ""
    stakes: tuple[Stake, ...] = ()

    @property
    def is_destructive(self) -> bool:
        return bool(self.destructive)

    @property
    def name(self) -> str:
        return f"{self.section}.{self.object}"

    def to_dict(self) -> dict[str, Any]:
        return {"section": self.section, "object": self.object, "change": self.change,
                "details": list(self.details), "destructive": list(self.destructive),
                "file": self.file, "field": self.field,
                "stakes": [{"kind": s.kind, "name": s.name} for s in self.stakes]}


@dataclass(frozen=True)
class SpecDiff:
    spec: str
    base_ref: str
    changes: tuple[Change, ...]
    base_missing: bool = False  # the spec file did not exist at the base ref

    @property
    def destructive(self) -> tuple[Change, ...]:
        return tuple(c for c in self.changes if c.is_destructive)

    def exit_code(self) -> int:
        """0 no change, 2 changes, 3 something destructive."""
        if self.destructive:
            return 3
        return 2 if self.changes else 0

    def counts(self) -> dict[str, int]:
        out = {"added": 0, "removed": 0, "modified": 0, "renamed": 0}
        for c in self.changes:
            out[c.change] += 1
        return out

    def summary(self) -> str:
        if not self.changes:
            return "no change to the desired state"
        parts = [f"{n} {k}" for k, n in self.counts().items() if n]
        text = f"{_count(len(self.changes), 'change')} ({', '.join(parts)})"
        if self.destructive:
            text += f", {len(self.destructive)} destructive"
        return text


@dataclass(frozen=True)
class Side:
    """One version of the spec, with what the diff needs that lives in files."""

    desired: DesiredState
    origins: Origins
    transform_sql: dict[str, str] = field(default_factory=dict)

    @classmethod
    def read(cls, desired: DesiredState) -> "Side":
        sql = {}
        for name, tr in desired.transforms.items():
            try:
                sql[name] = (Path(desired.root) / tr.sql).read_text(encoding="utf-8")
            except OSError:
                sql[name] = ""
        return cls(desired, Origins.read(desired), sql)


# =========================================================================== reading


def _git(args: list[str], cwd: Path, *, binary: bool = False) -> Any:
    try:
        r = subprocess.run(["git", *args], cwd=cwd, capture_output=True, check=False)
    except FileNotFoundError:
        raise GitError("git is not installed") from None
    if r.returncode != 0:
        msg = r.stderr.decode(errors="replace").strip().splitlines()
        raise GitError(f"git {' '.join(args[:2])}: {msg[-1] if msg else f'exit {r.returncode}'}")
    return r.stdout if binary else r.stdout.decode().strip()


def read_base(spec_path: str | Path, ref: str) -> Side | None:
    """The spec at `ref`, loaded and validated; None if the spec file did not exist there.

    Extracts the project folder at that ref (`git archive`, no checkout, the working
    tree is untouched) into a temporary folder, so included YAML, DDL and view SQL
    come from the same commit."""
    spec_abs = Path(spec_path).resolve()
    here = spec_abs.parent if spec_abs.parent.is_dir() else Path.cwd()
    top = Path(_git(["rev-parse", "--show-toplevel"], here))
    try:
        _git(["rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"], top)
    except GitError:
        raise GitError(f"--base: {ref!r} is not a commit in {top} (fetch it first, e.g. "
                       f"`git fetch origin {ref}`, or check out with fetch-depth: 0)") from None
    root = find_root(spec_abs)
    try:
        rel_spec = spec_abs.relative_to(top.resolve()).as_posix()
        rel_root = root.resolve().relative_to(top.resolve()).as_posix()
    except ValueError:
        raise GitError(f"{spec_path} is not inside the git repository {top}") from None
    try:
        _git(["cat-file", "-e", f"{ref}:{rel_spec}"], top)
    except GitError:
        return None
    tree = _git(["archive", "--format=tar", ref] + ([] if rel_root == "." else ["--", rel_root]),
                top, binary=True)
    with tempfile.TemporaryDirectory(prefix="reconcile-base-") as tmp:
        with tarfile.open(fileobj=io.BytesIO(tree)) as tar:
            tar.extractall(tmp, filter="data")
        base_root = Path(tmp) / rel_root
        try:
            desired = load_spec(Path(tmp) / rel_spec, root=base_root)
        except SpecError as e:
            raise SpecError(f"{ref}:{e.file}", e.field, e.message) from None
        return Side.read(desired)


# =========================================================================== diffing


def _count(n: int, word: str) -> str:
    return f"{n:,} {word if n == 1 else word + 's'}"


def _v(x: Any) -> str:
    """A value as a reviewer reads it."""
    if x is None or type(x).__name__ == "NotPresent":
        return "(none)"
    if isinstance(x, bool):
        return str(x).lower()
    if isinstance(x, float) and x.is_integer():
        return str(int(x))
    if isinstance(x, (list, tuple)):
        return "[" + ", ".join(_v(i) for i in x) + "]"
    if isinstance(x, dict):
        return "{" + ", ".join(f"{k}: {_v(v)}" for k, v in x.items()) + "}"
    return str(x)


def differences(a: dict[str, Any], b: dict[str, Any]) -> tuple[list[str], list[str], list[str]]:
    """Keys added, removed and present in both (sorted), as migra's `differences`."""
    return sorted(set(b) - set(a)), sorted(set(a) - set(b)), sorted(set(a) & set(b))


def field_changes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Field-level lines ("path: old -> new"), from deepdiff. A list changes as a whole."""
    dd = DeepDiff(old, new, view="tree", verbose_level=2)
    seen: dict[tuple, str] = {}
    for kind, levels in dd.items():
        for lv in levels:
            path = lv.path(output_format="list")
            cut = next((i for i, p in enumerate(path) if isinstance(p, int)), None)
            if cut is not None:  # an item inside a list: show the list before and after
                path = path[:cut]
                a, b = _get(old, path), _get(new, path)
            else:
                a, b = lv.t1, lv.t2
            key = tuple(path)
            if key in seen:
                continue
            dotted = ".".join(str(p) for p in path)
            if kind == "dictionary_item_added" and cut is None:
                seen[key] = f"{dotted}: added {_v(b)}"
            elif kind == "dictionary_item_removed" and cut is None:
                seen[key] = f"{dotted}: removed (was {_v(a)})"
            else:
                seen[key] = f"{dotted}: {_v(a)} -> {_v(b)}"
    return [seen[k] for k in sorted(seen, key=lambda k: [str(p) for p in k])]


def _get(d: Any, path: list) -> Any:
    for p in path:
        if isinstance(d, dict):
            d = d.get(p)
        elif isinstance(d, (list, tuple)) and isinstance(p, int) and p < len(d):
            d = d[p]
        else:
            return None
    return d


def _num(x: float | int | None) -> str:
    return _v(x)


def loosened(old: Expectations | None, new: Expectations | None, what: str) -> list[str]:
    """Why `new` checks less than `old` (empty if it checks as much or more).

    `what` prefixes each reason (e.g. "expect"); empty when the object says it already."""
    if old is None or old.is_empty():
        return []
    what = f"{what}: " if what else ""
    if new is None or new.is_empty():
        return [f"{what}every expectation removed (the gate no longer checks this data)"]
    out = []
    for name in ("min_rows", "min_columns"):
        o, n = getattr(old, name), getattr(new, name)
        if o is not None and (n is None or n < o):
            out.append(f"{what}{name} lowered {o} -> {_v(n)}")
    for col, o in sorted(old.min_distinct.items()):
        n = new.min_distinct.get(col)
        if n is None or n < o:
            out.append(f"{what}min_distinct.{col} lowered {o} -> {_v(n)}")
    for col, o in sorted(old.ranges.items()):
        n = new.ranges.get(col)
        if n is None:
            out.append(f"{what}range of {col} removed (was {_num(o.min)}..{_num(o.max)})")
            continue
        if o.min is not None and (n.min is None or n.min < o.min):
            out.append(f"{what}range of {col} widened: min {_num(o.min)} -> {_num(n.min)}")
        if o.max is not None and (n.max is None or n.max > o.max):
            out.append(f"{what}range of {col} widened: max {_num(o.max)} -> {_num(n.max)}")
    for col, o in sorted(old.placeholders.items()):
        n = new.placeholders.get(col)
        if n is None:
            out.append(f"{what}placeholder check on {col} removed (was {_v(o)})")
            continue
        gone = [v for v in o if v not in n]
        if gone:
            out.append(f"{what}fewer placeholders on {col}: {_v(gone)} no longer rejected")
    if old.coverage is not None:
        n = new.coverage
        oc = old.coverage
        if n is None:
            out.append(f"{what}coverage removed (was {oc.column} {oc.start}..{oc.end})")
        elif n.column != oc.column:
            out.append(f"{what}coverage now on {n.column}, was {oc.column}")
        elif n.start > oc.start or n.end < oc.end:
            out.append(f"{what}coverage shortened {oc.start}..{oc.end} -> {n.start}..{n.end}")
        if n is not None and n.tolerance_days > oc.tolerance_days:
            out.append(f"{what}coverage tolerance widened {oc.tolerance_days} -> {n.tolerance_days} days")
    return out


def _file_gates(load: dict[str, Any]) -> Expectations:
    return Expectations.model_validate({"ranges": load.get("ranges") or {},
                                        "min_distinct": load.get("min_distinct") or {}}, strict=False)


def _exp_dict(e: Expectations | None) -> dict[str, Any]:
    return {} if e is None else e.model_dump(mode="json", by_alias=True, exclude_defaults=True)


def _placeholders_lost(old: list, new: list, what: str) -> list[str]:
    gone = [v for v in old if v not in new]
    return [f"{what}: fewer placeholders: {_v(gone)} no longer rejected"] if gone else []


class _Differ:
    def __init__(self, base: Side | None, head: Side):
        self.b = base.desired if base else None
        self.h = head.desired
        self.bside, self.hside = base, head
        self.out: list[Change] = []

    def add(self, section: str, obj: str, change: str, details: Iterable[str] = (),
            destructive: Iterable[str] = (), *, where: tuple[str, str] = ("", ""),
            stakes: Iterable[Stake] = ()) -> None:
        self.out.append(Change(section, obj, change, tuple(details), tuple(destructive),  # type: ignore[arg-type]
                               where[0], where[1], tuple(stakes)))

    def origin(self, removed: bool, section: str, name: str, sub: str = "") -> tuple[str, str]:
        side = self.bside if removed and self.bside else self.hside
        return side.origins.of(section, name, sub)

    # ------------------------------------------------------------ settings and targets
    def settings(self) -> None:
        b, h = self.b, self.h
        if b is None:
            return
        keys = ("project", "default_location", "ops_dataset", "staging_dir")
        for key in keys:
            o, n = getattr(b, key), getattr(h, key)
            if o == n or (key == "default_location" and ids.same_location(o, n)):
                continue
            bad = [f"project changed {o} -> {n}: the spec now describes another project"] \
                if key == "project" else []
            self.add("settings", key, "modified", [f"{key}: {o} -> {n}"], bad,
                     where=self.hside.origins.setting(key))
        if b.placeholder_values != h.placeholder_values:
            self.add("settings", "placeholder_values", "modified",
                     field_changes({"placeholder_values": b.placeholder_values},
                                   {"placeholder_values": h.placeholder_values}),
                     _placeholders_lost(b.placeholder_values, h.placeholder_values,
                                        "placeholder_values (every load's gate)"),
                     where=self.hside.origins.setting("placeholder_values"))

    def targets(self) -> None:
        old = {k: v.model_dump(mode="json") for k, v in (self.b.targets if self.b else {}).items()}
        new = {k: v.model_dump(mode="json") for k, v in self.h.targets.items()}
        self._simple("targets", old, new)

    def _simple(self, section: str, old: dict[str, dict], new: dict[str, dict],
                removed_is_destructive: str | None = None) -> None:
        added, removed, both = differences(old, new)
        for k in added:
            self.add(section, k, "added", [_brief(new[k])], where=self.origin(False, section, k))
        for k in removed:
            self.add(section, k, "removed", [], [removed_is_destructive] if removed_is_destructive else [],
                     where=self.origin(True, section, k))
        for k in both:
            lines = field_changes(old[k], new[k])
            if lines:
                self.add(section, k, "modified", lines, where=self.origin(False, section, k))

    # ------------------------------------------------------------ datasets
    def datasets(self) -> None:
        def state(d: DesiredState | None) -> dict[str, dict]:
            if d is None:
                return {}
            return {n: {"location": ids.normalize_location(d.location_of(n)),
                        "description": ds.description, "labels": dict(ds.labels)}
                    for n, ds in d.datasets.items()}

        old, new = state(self.b), state(self.h)
        added, removed, both = differences(old, new)
        for n in added:
            self.add("datasets", n, "added", [f"location {new[n]['location']}"],
                     where=self.origin(False, "datasets", n))
        for n in removed:
            self.add("datasets", n, "removed", [f"was in {old[n]['location']}"],
                     [f"dataset {n} dropped from the spec: the reconciler stops managing it and its "
                      f"tables (not deleted: reported as unmanaged)"],
                     where=self.origin(True, "datasets", n), stakes=[Stake("dataset", n)])
        for n in both:
            lines = field_changes(old[n], new[n])
            if not lines:
                continue
            bad = []
            if not ids.same_location(old[n]["location"], new[n]["location"]):
                bad.append(f"location {old[n]['location']} -> {new[n]['location']}: BigQuery cannot "
                           f"move a dataset; it must be recreated and its data copied over")
            self.add("datasets", n, "modified", lines, bad,
                     where=self.origin(False, "datasets", n, "location" if bad else ""),
                     stakes=[Stake("dataset", n)] if bad else [])

    # ------------------------------------------------------------ tables
    @staticmethod
    def _table_state(d: DesiredState, ref: str) -> dict[str, Any]:
        t = d.tables[ref]
        return {"ddl": t.ddl,
                "columns": {n: {"type": ty, "mode": m} for n, ty, m in (d.columns_of(ref) or [])},
                "partition_by": t.partition_by, "cluster_by": list(t.cluster_by),
                "description": t.description, "labels": dict(t.labels)}

    @staticmethod
    def _signature(d: DesiredState, ref: str) -> tuple:
        t = d.tables[ref]
        return (tuple(d.columns_of(ref) or []), t.partition_by, tuple(t.cluster_by))

    def tables(self) -> None:
        b, h = self.b, self.h
        old = {r: self._table_state(b, r) for r in b.tables} if b else {}
        new = {r: self._table_state(h, r) for r in h.tables}
        added, removed, both = differences(old, new)

        # A removed and an added table with the same columns: a rename (still a drop).
        renames: dict[str, str] = {}
        if b is not None:
            sigs_new: dict[tuple, list[str]] = {}
            for r in added:
                sigs_new.setdefault(self._signature(h, r), []).append(r)
            for r in removed:
                cands = sigs_new.get(self._signature(b, r), [])
                if len(cands) == 1 and cands[0] not in renames.values():
                    renames[r] = cands[0]
        for r in added:
            if r in renames.values():
                continue
            cols = new[r]["columns"]
            self.add("tables", r, "added",
                     [f"{_count(len(cols), 'column')}" + (f" from {new[r]['ddl']}" if new[r]["ddl"] else "")],
                     where=self.origin(False, "tables", r))
        for r in removed:
            if r in renames:
                nr = renames[r]
                details = [f"renamed {r} -> {nr} (same columns)"] + field_changes(
                    {k: v for k, v in old[r].items() if k != "columns"},
                    {k: v for k, v in new[nr].items() if k != "columns"})
                self.add("tables", f"{r} -> {nr}", "renamed", details,
                         [f"table {r} dropped from the spec: its rows stay where they are, unmanaged, "
                          f"and {nr} is created empty (BigQuery has no rename here; no data is carried over)"],
                         where=self.origin(False, "tables", nr), stakes=[Stake("table", r)])
                continue
            self.add("tables", r, "removed", [f"had {_count(len(old[r]['columns']), 'column')}"],
                     [f"table {r} dropped from the spec: the reconciler stops managing it "
                      f"(not deleted: reported as unmanaged)"],
                     where=self.origin(True, "tables", r), stakes=[Stake("table", r)])
        for r in both:
            lines = field_changes(old[r], new[r])
            bad = []
            oc, nc = old[r]["columns"], new[r]["columns"]
            for col in sorted(oc):
                if col not in nc:
                    bad.append(f"column {col} ({oc[col]['type']}) dropped: BigQuery would lose its data")
                elif oc[col]["type"] != nc[col]["type"]:
                    bad.append(f"column {col} type {oc[col]['type']} -> {nc[col]['type']}: "
                               f"not an in-place change; the table must be rewritten")
                elif oc[col]["mode"] != "REQUIRED" and nc[col]["mode"] == "REQUIRED":
                    bad.append(f"column {col} now REQUIRED: existing rows may hold NULL")
            for col in sorted(set(nc) - set(oc)):
                if nc[col]["mode"] == "REQUIRED":
                    bad.append(f"new column {col} is REQUIRED: existing rows have no value")
            oe, ne = b.tables[r].expect, h.tables[r].expect  # type: ignore[union-attr]
            lines += [f"expect.{x}" for x in field_changes(_exp_dict(oe), _exp_dict(ne))]
            bad += loosened(oe, ne, "expect")
            if lines:
                self.add("tables", r, "modified", lines, bad, where=self.origin(False, "tables", r),
                         stakes=[Stake("table", r)] if bad else [])

    # ------------------------------------------------------------ views
    def views(self) -> None:
        def state(d: DesiredState | None) -> dict[str, dict]:
            if d is None:
                return {}
            return {r: {"sql": v.sql, "description": v.description,
                         "definition": " ".join(d.view_sql.get(r, "").split())}
                    for r, v in d.views.items()}

        old, new = state(self.b), state(self.h)
        added, removed, both = differences(old, new)
        for r in added:
            self.add("views", r, "added", [f"from {new[r]['sql']}"], where=self.origin(False, "views", r))
        for r in removed:
            self.add("views", r, "removed", [f"was {old[r]['sql']}"], where=self.origin(True, "views", r))
        for r in both:
            o = {k: v for k, v in old[r].items() if k != "definition"}
            n = {k: v for k, v in new[r].items() if k != "definition"}
            lines = field_changes(o, n)
            if old[r]["definition"] != new[r]["definition"]:
                lines.append("definition: " + _text_delta(self.b.view_sql.get(r, ""),  # type: ignore[union-attr]
                                                          self.h.view_sql.get(r, "")))
            if lines:
                self.add("views", r, "modified", lines, where=self.origin(False, "views", r))

    # ------------------------------------------------------------ loads
    def loads(self) -> None:
        def state(d: DesiredState | None) -> dict[str, tuple[int, dict]]:
            if d is None:
                return {}
            per_table: dict[str, int] = {}
            for ld in d.loads:
                per_table[ld.table] = per_table.get(ld.table, 0) + 1
            return {(ld.table if per_table[ld.table] == 1 else f"{ld.table} <- {ld.source}"):
                    (i, {**ld.model_dump(mode="json", by_alias=True), "keys": list(ld.keys)})
                    for i, ld in enumerate(d.loads)}

        old, new = state(self.b), state(self.h)
        added, removed, both = differences(old, new)
        for k in added:
            i, n = new[k]
            self.add("loads", k, "added", [f"{n['source']} merged on ({', '.join(n['keys'])})"],
                     where=self.hside.origins.at("loads", i))
        for k in removed:
            i, o = old[k]
            self.add("loads", k, "removed", [f"{o['source']} no longer loaded"],
                     where=self.bside.origins.at("loads", i))  # type: ignore[union-attr]
        for k in both:
            (_, o), (i, n) = old[k], new[k]
            lines = field_changes(o, n)
            if not lines:
                continue
            bad = []
            if set(o["keys"]) != set(n["keys"]):
                bad.append(f"merge key ({', '.join(o['keys'])}) -> ({', '.join(n['keys'])}): rows merged "
                           f"on the old key may now duplicate or overwrite each other")
            if o["min_rows"] is not None and (n["min_rows"] is None or n["min_rows"] < o["min_rows"]):
                bad.append(f"min_rows lowered {o['min_rows']} -> {_v(n['min_rows'])}")
            for col, vals in sorted(o["placeholders"].items()):
                bad += _placeholders_lost(vals, n["placeholders"].get(col, []), f"placeholders.{col}")
            # The file gates (ranges, min_distinct) loosen as expectations do.
            bad += loosened(_file_gates(o), _file_gates(n), "file gate")
            if o.get("intervals") and not n.get("intervals"):
                bad.append("file gate: intervals check removed")
            self.add("loads", k, "modified", lines, bad, where=self.hside.origins.at("loads", i),
                     stakes=[Stake("table", n["table"])] if bad else [])

    # ------------------------------------------------------------ migrations
    def migrations(self) -> None:
        def state(d: DesiredState | None) -> dict[str, tuple[int, dict]]:
            if d is None:
                return {}
            out: dict[str, tuple[int, dict]] = {}
            for i, mg in enumerate(d.migrations):
                key = mg.source if mg.source not in out else f"{mg.source} #{i}"
                out[key] = (i, {"to": mg.to, "rename": mg.rename.model_dump(mode="json"),
                                "backup": mg.backup})
            return out

        old, new = state(self.b), state(self.h)
        added, removed, both = differences(old, new)
        for k in added:
            i, n = new[k]
            self.add("migrations", k, "added", [f"to {n['to']}" + ("" if n["backup"] else ", no backup")],
                     ["backup: false: legacy tables would be copied without a backup first"]
                     if not n["backup"] else [],
                     where=self.hside.origins.at("migrations", i),
                     stakes=[Stake("tables", k)] if not n["backup"] else [])
        for k in removed:
            i, _ = old[k]
            self.add("migrations", k, "removed", ["legacy tables no longer migrated"],
                     where=self.bside.origins.at("migrations", i))  # type: ignore[union-attr]
        for k in both:
            (_, o), (i, n) = old[k], new[k]
            lines = field_changes(o, n)
            if not lines:
                continue
            bad = ["backup turned off: legacy tables would be copied without a backup first"] \
                if o["backup"] and not n["backup"] else []
            self.add("migrations", k, "modified", lines, bad, where=self.hside.origins.at("migrations", i),
                     stakes=[Stake("tables", k)] if bad else [])

    # ------------------------------------------------------------ archive
    def archive(self) -> None:
        o = self.b.archive if self.b else None
        n = self.h.archive
        if o is None and n is None:
            return
        od = o.model_dump(mode="json") if o else None
        nd = n.model_dump(mode="json") if n else None
        name = (n or o).dataset  # type: ignore[union-attr]
        file = (self.hside if n else self.bside).origins.setting("archive")  # type: ignore[union-attr]
        if od is None:
            bad = ["delete_sources: true: archived datasets would be deleted"] if n.delete_sources else []  # type: ignore[union-attr]
            self.add("archive", name, "added", [f"sources {_v(nd['sources'])}, keep {_v(nd['keep'])}"],  # type: ignore[index]
                     bad, where=file, stakes=[Stake("datasets", p) for p in n.sources] if bad else [])  # type: ignore[union-attr]
            return
        if nd is None:
            self.add("archive", name, "removed", ["backup datasets no longer consolidated"], where=file)
            return
        lines = field_changes(od, nd)
        if not lines:
            return
        bad, stakes = [], []
        if n.delete_sources and not o.delete_sources:  # type: ignore[union-attr]
            bad.append("delete_sources turned on: archived datasets would be deleted")
            stakes += [Stake("datasets", p) for p in n.sources]  # type: ignore[union-attr]
        if n.delete_sources:  # type: ignore[union-attr]
            for p in o.keep:  # type: ignore[union-attr]
                if p not in n.keep:  # type: ignore[union-attr]
                    bad.append(f"keep {p} removed: it would be deleted after archiving")
                    stakes.append(Stake("datasets", p))
        self.add("archive", name, "modified", lines, bad, where=file, stakes=stakes)

    # ------------------------------------------------------------ expectations
    def expectations(self) -> None:
        old = dict(self.b.expectations) if self.b else {}
        new = dict(self.h.expectations)
        added, removed, both = differences(old, new)
        for p in added:
            self.add("expectations", p, "added", [_brief(_exp_dict(new[p]))],
                     where=self.origin(False, "expectations", p))
        for p in removed:
            self.add("expectations", p, "removed", [_brief(_exp_dict(old[p]))], loosened(old[p], None, ""),
                     where=self.origin(True, "expectations", p), stakes=[Stake("tables", p)])
        for p in both:
            lines = field_changes(_exp_dict(old[p]), _exp_dict(new[p]))
            if lines:
                bad = loosened(old[p], new[p], "")
                self.add("expectations", p, "modified", lines, bad,
                         where=self.origin(False, "expectations", p),
                         stakes=[Stake("tables", p)] if bad else [])

    # ------------------------------------------------------------ transforms and waivers
    def transforms(self) -> None:
        def state(side: Side | None) -> dict[str, dict]:
            if side is None:
                return {}
            return {k: {**t.model_dump(mode="json"), "text": side.transform_sql.get(k, "")}
                    for k, t in side.desired.transforms.items()}

        old, new = state(self.bside), state(self.hside)
        added, removed, both = differences(old, new)
        for k in added:
            self.add("transforms", k, "added", [f"{new[k]['sql']} -> {_v(new[k]['outputs'])}"],
                     where=self.origin(False, "transforms", k))
        for k in removed:
            self.add("transforms", k, "removed", [f"was {old[k]['sql']}"],
                     where=self.origin(True, "transforms", k))
        for k in both:
            o = {x: v for x, v in old[k].items() if x != "text"}
            n = {x: v for x, v in new[k].items() if x != "text"}
            lines = field_changes(o, n)
            if old[k]["text"] != new[k]["text"]:
                lines.append(f"{new[k]['sql']}: " + _text_delta(old[k]["text"], new[k]["text"]))
            if lines:
                self.add("transforms", k, "modified", lines, where=self.origin(False, "transforms", k))

    def waivers(self) -> None:
        def state(d: DesiredState | None) -> dict[str, tuple[int, str]]:
            return {f"{w.rule}:{w.object}": (i, w.reason) for i, w in enumerate(d.waivers)} if d else {}

        old, new = state(self.b), state(self.h)
        added, removed, both = differences(old, new)
        for k in added:
            self.add("waivers", k, "added", [f"reason: {new[k][1]}"], where=self.hside.origins.at("waivers", new[k][0]))
        for k in removed:
            self.add("waivers", k, "removed", [], where=self.bside.origins.at("waivers", old[k][0]))  # type: ignore[union-attr]
        for k in both:
            if old[k][1] != new[k][1]:
                self.add("waivers", k, "modified", [f"reason: {old[k][1]} -> {new[k][1]}"],
                         where=self.hside.origins.at("waivers", new[k][0]))


def _brief(d: dict[str, Any], limit: int = 120) -> str:
    text = ", ".join(f"{k}: {_v(v)}" for k, v in d.items() if v not in (None, {}, [], ""))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _text_delta(old: str, new: str) -> str:
    a, b = old.strip().splitlines(), new.strip().splitlines()
    plus = minus = 0
    for line in difflib.unified_diff(a, b, lineterm="", n=0):
        if line.startswith("+") and not line.startswith("+++"):
            plus += 1
        elif line.startswith("-") and not line.startswith("---"):
            minus += 1
    return f"SQL changed (+{plus} -{minus} lines)"


def diff(base: Side | None, head: Side, *, spec: str = "", base_ref: str = "") -> SpecDiff:
    """Compare two versions of a spec. Pure: both sides are already read."""
    d = _Differ(base, head)
    for section in SECTIONS:
        getattr(d, section)()
    order = {s: i for i, s in enumerate(SECTIONS)}
    changes = sorted(d.out, key=lambda c: (order[c.section], c.object))
    return SpecDiff(spec=spec or (head.desired.files[0] if head.desired.files else ""),
                    base_ref=base_ref, changes=tuple(changes), base_missing=base is None)


def spec_diff(spec_path: str | Path, base_ref: str) -> SpecDiff:
    """Read the spec at `base_ref` and in the working tree, and diff them."""
    head = Side.read(load_spec(spec_path))
    base = read_base(spec_path, base_ref)
    return diff(base, head, base_ref=base_ref)


# =========================================================================== rendering


def _md(value: object, limit: int = 300) -> str:
    """Plain text for a Markdown table cell: one line, no HTML, no table breaks, no emphasis."""
    s = " ".join(str(value).split())
    if len(s) > limit:
        s = s[: limit - 1] + "…"
    s = s.replace("\\", "\\\\").replace("&", "&amp;").replace("<", "&lt;")
    for ch in "|`*":
        s = s.replace(ch, "\\" + ch)
    return s


def _code(value: object, limit: int = 160) -> str:
    """An object name as inline code (no escaping inside code spans, except the table pipe)."""
    s = " ".join(str(value).split()).replace("`", "'")
    if len(s) > limit:
        s = s[: limit - 1] + "…"
    return "`" + s.replace("|", "\\|") + "`"


def render_text(d: SpecDiff) -> str:
    head = f"Spec diff: {d.spec} at {d.base_ref} -> working tree"
    if d.base_missing:
        head += f" (the spec did not exist at {d.base_ref}: everything is new)"
    lines = [head]
    section = None
    for c in d.changes:
        if c.section != section:
            section = c.section
            lines += ["", section]
        lines.append(f"  {_SYMBOL[c.change]} {c.object} ({c.change})  [{c.file}: {c.field}]")
        lines += [f"      {x}" for x in c.details]
        lines += [f"      DESTRUCTIVE: {x}" for x in c.destructive]
    lines += ["", d.summary()[0].upper() + d.summary()[1:] + "."]
    return "\n".join(lines) + "\n"


def change_row(c: Change, detail_items: int = 3) -> str:
    shown = list(c.details[:detail_items])
    if len(c.details) > detail_items:
        shown.append(f"… (+{len(c.details) - detail_items} more)")
    return (f"| {_SYMBOL[c.change]} | {c.section} | {_code(c.object)} | {c.change} | "
            f"{_md('; '.join(shown))} | {_md('; '.join(c.destructive)) if c.destructive else ''} |")


CHANGE_HEAD = ["| | section | object | change | details | destructive because |", "|---|---|---|---|---|---|"]


def render_markdown(d: SpecDiff, *, max_rows: int = 100, heading: str = "###") -> str:
    """Markdown: summary, destructive changes first, then every change (capped), details folded."""
    about = f"{_code(d.spec)} at {_code(d.base_ref)} → working tree"
    lines = [f"{heading} Spec diff", "", f"**{_md(d.summary())}** ({about})."]
    if d.base_missing:
        lines += ["", f"The spec did not exist at {_code(d.base_ref)}: everything is new."]
    if not d.changes:
        return "\n".join(lines) + "\n"
    ordered = list(d.destructive) + [c for c in d.changes if not c.is_destructive]
    lines += ["", *CHANGE_HEAD]
    lines += [change_row(c) for c in ordered[:max_rows]]
    if len(ordered) > max_rows:
        lines += ["", f"… and {len(ordered) - max_rows:,} more changes (`reconcile spec-diff --format json` "
                      f"lists them all)"]
    folded = ordered[:max_rows]
    if folded:
        lines += ["", "<details><summary>Where and field-level details</summary>", ""]
        for c in folded:
            lines.append(f"- {_code(c.name)} in {_code(c.file + ': ' + c.field)}")
            lines += [f"  - {_md(x)}" for x in c.details[:20]]
            if len(c.details) > 20:
                lines.append(f"  - … (+{len(c.details) - 20} more)")
            lines += [f"  - **destructive**: {_md(x)}" for x in c.destructive[:10]]
        lines += ["", "</details>"]
    return "\n".join(lines) + "\n"


def render_json(d: SpecDiff) -> str:
    doc = {"schema_version": 1, "spec": d.spec, "base_ref": d.base_ref, "base_missing": d.base_missing,
           "exit_code": d.exit_code(), "counts": d.counts(), "destructive": len(d.destructive),
           "changes": [c.to_dict() for c in d.changes]}
    return json.dumps(doc, indent=2, sort_keys=True) + "\n"


def render(d: SpecDiff, fmt: str) -> str:
    if fmt == "json":
        return render_json(d)
    if fmt == "markdown":
        return render_markdown(d)
    return render_text(d)


def run(args) -> int:
    """`reconcile spec-diff`: print the report, return 0 / 2 / 3."""
    d = spec_diff(args.spec, args.base)
    out = render(d, args.format)
    sys.stdout.write(out)
    if getattr(args, "out", None):
        Path(args.out).write_text(out, encoding="utf-8")
    return d.exit_code()
