"""The spec diff itself: two versions of a spec, compared section by section (datasets,
tables with their columns, views, loads, migrations, the archive, expectations,
transforms, targets, settings and lint waivers), each object as added, removed or
modified, with the reasons a change is destructive.

Column changes are judged by BigQuery's rule table (`reconcile.plan.schema`), the one
the planner uses too. Pure: both sides are already read.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable

from reconcile import identifiers as ids
from reconcile.plan.schema import ADD_REQUIRED, DROP, TIGHTEN, ColumnChange, compare_columns
from reconcile.review.specdiff.fields import (
    brief, differences, field_changes, field_changes_with_text, value_text as _v,
)
from reconcile.review.specdiff.gates import (
    exp_dict, file_gates, loosened, lowered, placeholders_lost,
)
from reconcile.review.specdiff.model import SECTIONS, Change, SpecDiff, Stake, count
from reconcile.review.specdiff.read import Side
from reconcile.spec.model import DesiredState


@dataclass(frozen=True)
class Found:
    """What a section says about one object: detail lines, destructive reasons, stakes,
    and the sub-field its origin points at (e.g. a dataset's location)."""

    details: Iterable[str] = ()
    destructive: Iterable[str] = ()
    stakes: Iterable[Stake] = ()
    sub: str = ""


def column_reason(c: ColumnChange) -> str:
    """Why a column change in the spec is destructive (old spec -> new spec)."""
    if c.kind == DROP:
        return f"column {c.column} ({c.old[0]}) dropped: BigQuery would lose its data"  # type: ignore[index]
    if c.kind == TIGHTEN:
        return f"column {c.column} now REQUIRED: existing rows may hold NULL"
    if c.kind == ADD_REQUIRED:
        return f"new column {c.column} is REQUIRED: existing rows have no value"
    return (f"column {c.column} type {c.old[0]} -> {c.new[0]}: "  # type: ignore[index]
            f"not an in-place change; the table must be rewritten")


def column_reasons(old: dict[str, dict], new: dict[str, dict]) -> list[str]:
    """The destructive column changes: old columns by name first, then added ones."""
    changes = compare_columns([(n, c["type"], c["mode"]) for n, c in old.items()],
                              [(n, c["type"], c["mode"]) for n, c in new.items()])
    return [column_reason(c) for c in sorted(changes, key=lambda c: (c.old is None, c.column))
            if c.rule.destructive]


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

    def compare(self, section: str, old: dict[str, Any], new: dict[str, Any], *,
                added: Callable[[str, Any], Found] = lambda k, n: Found([brief(n)]),
                removed: Callable[[str, Any], Found] = lambda k, o: Found(),
                modified: Callable[[str, Any, Any], Found] = lambda k, o, n: Found(field_changes(o, n)),
                indexed: bool = False) -> None:
        """The walk every section shares: one Change per object added, removed, or
        modified (when `modified` finds detail lines). `indexed`: the values are
        (position in the spec's list, value), and the origin is that list item."""
        def where(removed: bool, k: str, sub: str = "") -> tuple[str, str]:
            if indexed:
                side = self.bside if removed else self.hside
                return side.origins.at(section, (old if removed else new)[k][0])  # type: ignore[union-attr]
            return self.origin(removed, section, k, sub)

        def value(d: dict[str, Any], k: str) -> Any:
            return d[k][1] if indexed else d[k]

        plus, minus, both = differences(old, new)
        for k in plus:
            f = added(k, value(new, k))
            self.add(section, k, "added", f.details, f.destructive, where=where(False, k), stakes=f.stakes)
        for k in minus:
            f = removed(k, value(old, k))
            self.add(section, k, "removed", f.details, f.destructive, where=where(True, k), stakes=f.stakes)
        for k in both:
            f = modified(k, value(old, k), value(new, k))
            details = list(f.details)
            if details:
                self.add(section, k, "modified", details, f.destructive, where=where(False, k, f.sub),
                         stakes=f.stakes)

    # ------------------------------------------------------------ settings and targets
    def settings(self) -> None:
        b, h = self.b, self.h
        if b is None:
            return
        for key in ("project", "default_location", "ops_dataset", "staging_dir"):
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
                     placeholders_lost(b.placeholder_values, h.placeholder_values,
                                       "placeholder_values (every load's gate)"),
                     where=self.hside.origins.setting("placeholder_values"))

    def targets(self) -> None:
        old = {k: v.model_dump(mode="json") for k, v in (self.b.targets if self.b else {}).items()}
        new = {k: v.model_dump(mode="json") for k, v in self.h.targets.items()}
        self.compare("targets", old, new)

    # ------------------------------------------------------------ datasets
    def datasets(self) -> None:
        def state(d: DesiredState | None) -> dict[str, dict]:
            if d is None:
                return {}
            return {n: {"location": ids.normalize_location(d.location_of(n)),
                        "description": ds.description, "labels": dict(ds.labels)}
                    for n, ds in d.datasets.items()}

        def modified(n: str, o: dict, new: dict) -> Found:
            if ids.same_location(o["location"], new["location"]):
                return Found(field_changes(o, new))
            return Found(field_changes(o, new),
                         [f"location {o['location']} -> {new['location']}: BigQuery cannot "
                          f"move a dataset; it must be recreated and its data copied over"],
                         [Stake("dataset", n)], sub="location")

        self.compare("datasets", state(self.b), state(self.h),
                     added=lambda n, new: Found([f"location {new['location']}"]),
                     removed=lambda n, o: Found(
                         [f"was in {o['location']}"],
                         [f"dataset {n} dropped from the spec: the reconciler stops managing it and its "
                          f"tables (not deleted: reported as unmanaged)"], [Stake("dataset", n)]),
                     modified=modified)

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

    def _renames(self, added: list[str], removed: list[str]) -> dict[str, str]:
        """A removed and an added table with the same columns: a rename (still a drop)."""
        renames: dict[str, str] = {}
        if self.b is None:
            return renames
        sigs_new: dict[tuple, list[str]] = {}
        for r in added:
            sigs_new.setdefault(self._signature(self.h, r), []).append(r)
        for r in removed:
            cands = sigs_new.get(self._signature(self.b, r), [])
            if len(cands) == 1 and cands[0] not in renames.values():
                renames[r] = cands[0]
        return renames

    def tables(self) -> None:
        b, h = self.b, self.h
        old = {r: self._table_state(b, r) for r in b.tables} if b else {}
        new = {r: self._table_state(h, r) for r in h.tables}
        renames = self._renames(*differences(old, new)[:2])
        for r, nr in renames.items():
            details = [f"renamed {r} -> {nr} (same columns)"] + field_changes(
                {k: v for k, v in old[r].items() if k != "columns"},
                {k: v for k, v in new[nr].items() if k != "columns"})
            self.add("tables", f"{r} -> {nr}", "renamed", details,
                     [f"table {r} dropped from the spec: its rows stay where they are, unmanaged, "
                      f"and {nr} is created empty (BigQuery has no rename here; no data is carried over)"],
                     where=self.origin(False, "tables", nr), stakes=[Stake("table", r)])

        def modified(r: str, o: dict, n: dict) -> Found:
            oe, ne = b.tables[r].expect, h.tables[r].expect  # type: ignore[union-attr]
            lines = field_changes(o, n) + [f"expect.{x}" for x in field_changes(exp_dict(oe), exp_dict(ne))]
            bad = column_reasons(o["columns"], n["columns"]) + loosened(oe, ne, "expect")
            return Found(lines, bad, [Stake("table", r)] if bad else [])

        gone = set(renames.values())
        self.compare("tables", {r: v for r, v in old.items() if r not in renames},
                     {r: v for r, v in new.items() if r not in gone},
                     added=lambda r, n: Found(
                         [count(len(n["columns"]), "column") + (f" from {n['ddl']}" if n["ddl"] else "")]),
                     removed=lambda r, o: Found(
                         [f"had {count(len(o['columns']), 'column')}"],
                         [f"table {r} dropped from the spec: the reconciler stops managing it "
                          f"(not deleted: reported as unmanaged)"], [Stake("table", r)]),
                     modified=modified)

    # ------------------------------------------------------------ views
    def views(self) -> None:
        def state(d: DesiredState | None) -> dict[str, dict]:
            if d is None:
                return {}
            return {r: {"sql": v.sql, "description": v.description,
                         "definition": " ".join(d.view_sql.get(r, "").split())}
                    for r, v in d.views.items()}

        self.compare("views", state(self.b), state(self.h),
                     added=lambda r, n: Found([f"from {n['sql']}"]),
                     removed=lambda r, o: Found([f"was {o['sql']}"]),
                     modified=lambda r, o, n: Found(field_changes_with_text(
                         o, n, "definition", "definition",
                         (self.b.view_sql.get(r, ""), self.h.view_sql.get(r, "")))))  # type: ignore[union-attr]

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

        def modified(k: str, o: dict, n: dict) -> Found:
            bad = []
            if set(o["keys"]) != set(n["keys"]):
                bad.append(f"merge key ({', '.join(o['keys'])}) -> ({', '.join(n['keys'])}): rows merged "
                           f"on the old key may now duplicate or overwrite each other")
            bad += lowered("min_rows", o["min_rows"], n["min_rows"])
            for col, vals in sorted(o["placeholders"].items()):
                bad += placeholders_lost(vals, n["placeholders"].get(col, []), f"placeholders.{col}")
            # The file gates (ranges, min_distinct) loosen as expectations do.
            bad += loosened(file_gates(o), file_gates(n), "file gate")
            if o.get("intervals") and not n.get("intervals"):
                bad.append("file gate: intervals check removed")
            return Found(field_changes(o, n), bad, [Stake("table", n["table"])] if bad else [])

        self.compare("loads", state(self.b), state(self.h), indexed=True,
                     added=lambda k, n: Found([f"{n['source']} merged on ({', '.join(n['keys'])})"]),
                     removed=lambda k, o: Found([f"{o['source']} no longer loaded"]),
                     modified=modified)

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

        no_backup = "legacy tables would be copied without a backup first"

        def added(k: str, n: dict) -> Found:
            if n["backup"]:
                return Found([f"to {n['to']}"])
            return Found([f"to {n['to']}, no backup"], [f"backup: false: {no_backup}"], [Stake("tables", k)])

        def modified(k: str, o: dict, n: dict) -> Found:
            if o["backup"] and not n["backup"]:
                return Found(field_changes(o, n), [f"backup turned off: {no_backup}"], [Stake("tables", k)])
            return Found(field_changes(o, n))

        self.compare("migrations", state(self.b), state(self.h), indexed=True, added=added,
                     removed=lambda k, o: Found(["legacy tables no longer migrated"]), modified=modified)

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

    # ------------------------------------------------------------ retire and references (issue 17)
    def retire(self) -> None:
        """A dataset added to `retire` will be deleted (once migrated, verified, archived and
        unreferenced, with an allow): destructive, like turning delete_sources on."""
        old = {ds: None for ds in (self.b.retire if self.b else [])}
        new = {ds: None for ds in self.h.retire}
        self.compare("retire", old, new,
                     added=lambda k, n: Found(["deleted once migrated, verified, archived and unreferenced "
                                               f"(with --allow-destructive delete:{k})"],
                                              [f"retire {k}: the dataset would be deleted"],
                                              [Stake("datasets", k)]),
                     removed=lambda k, o: Found(["no longer retired: kept"]))

    def references(self) -> None:
        """Scanned paths and waivers: a waiver added lets a deletion go ahead past a reader."""
        def state(d: DesiredState | None) -> dict[str, str]:
            if d is None:
                return {}
            out = {f"scan {g}": "" for g in d.references.scan}
            out |= {f"waiver {w.object} reads {w.reads}": w.reason for w in d.references.waivers}
            return out

        self.compare("references", state(self.b), state(self.h),
                     added=lambda k, n: Found([f"reason: {n}"] if n else ["scanned for references"]),
                     removed=lambda k, o: Found([f"was: {o}"] if o else ["no longer scanned"]),
                     modified=lambda k, o, n: Found([f"reason: {o} -> {n}"] if o != n else []))

    # ------------------------------------------------------------ expectations
    def expectations(self) -> None:
        def modified(p: str, o: Any, n: Any) -> Found:
            bad = loosened(o, n, "")
            return Found(field_changes(exp_dict(o), exp_dict(n)), bad, [Stake("tables", p)] if bad else [])

        self.compare("expectations", dict(self.b.expectations) if self.b else {}, dict(self.h.expectations),
                     added=lambda p, n: Found([brief(exp_dict(n))]),
                     removed=lambda p, o: Found([brief(exp_dict(o))], loosened(o, None, ""), [Stake("tables", p)]),
                     modified=modified)

    # ------------------------------------------------------------ transforms and waivers
    def transforms(self) -> None:
        def state(side: Side | None) -> dict[str, dict]:
            if side is None:
                return {}
            return {k: {**t.model_dump(mode="json"), "text": side.transform_sql.get(k, "")}
                    for k, t in side.desired.transforms.items()}

        self.compare("transforms", state(self.bside), state(self.hside),
                     added=lambda k, n: Found([f"{n['sql']} -> {_v(n['outputs'])}"]),
                     removed=lambda k, o: Found([f"was {o['sql']}"]),
                     modified=lambda k, o, n: Found(field_changes_with_text(
                         o, n, "text", n["sql"], (o["text"], n["text"]))))

    def waivers(self) -> None:
        def state(d: DesiredState | None) -> dict[str, tuple[int, str]]:
            return {f"{w.rule}:{w.object}": (i, w.reason) for i, w in enumerate(d.waivers)} if d else {}

        self.compare("waivers", state(self.b), state(self.h), indexed=True,
                     added=lambda k, n: Found([f"reason: {n}"]),
                     modified=lambda k, o, n: Found([f"reason: {o} -> {n}"] if o != n else []))


def diff(base: Side | None, head: Side, *, spec: str = "", base_ref: str = "") -> SpecDiff:
    """Compare two versions of a spec. Pure: both sides are already read."""
    d = _Differ(base, head)
    for section in SECTIONS:
        getattr(d, section)()
    order = {s: i for i, s in enumerate(SECTIONS)}
    changes = sorted(d.out, key=lambda c: (order[c.section], c.object))
    return SpecDiff(spec=spec or (head.desired.files[0] if head.desired.files else ""),
                    base_ref=base_ref, changes=tuple(changes), base_missing=base is None)
