"""Saved plans: what was reviewed is what gets applied (Terraform's `plan -out`).

`save(plan, ...)` turns a Plan into a versioned JSON document holding, besides the
actions themselves, what the plan was made from: the spec's hash, the target, the
approvals and allows, and a fingerprint of every part of the live warehouse the plan
depends on (`depends_on`): each dataset and table an action touches and each table
the spec declares (type, rows, columns, view text; a dataset by its location and the
names of its tables, so a table added to a migrated dataset counts), the load ledger
and relocation checkpoints of those tables, and each staging file a load reads (by
content hash). `fingerprint` hashes the whole document.

`load(path)` gives the Plan back, every action rebuilt as its frozen dataclass;
`stale(saved, desired, snapshot, sources)` re-computes `depends_on` from a fresh read
and names every part that changed. `reconcile apply FILE` refuses to run a plan
whose spec or dependencies changed. No BigQuery, no clock (`created_at` is passed in);
the only files read are the saved plan and the spec's transform SQL (`spec_hash`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reconcile.plan.actions import ACTIONS, Action, MergeLoad, Plan
from reconcile.snapshot.model import Snapshot
from reconcile.spec.model import DesiredState, SpecError
from reconcile.spec.sources import SourceManifest

SAVED_PLAN_VERSION = 1
KIND = "reconcile-saved-plan"
_CLASSES = {c.__name__: c for c in ACTIONS}


@dataclass(frozen=True)
class SavedPlan:
    plan: Plan
    project: str
    target: str
    spec_hash: str
    approvals: tuple[str, ...]
    allow_destructive: bool | tuple[str, ...]  # True (older files) or the allows named
    only: tuple[str, ...]
    depends_on: dict[str, str]
    fingerprint: str
    created_at: str | None = None


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:16]


def spec_hash(desired: DesiredState) -> str:
    """The desired state as loaded (DDL and view texts are in it) plus the text of each
    transform's SQL file (read here: the spec holds only its path)."""
    texts = {}
    for name, tr in sorted(desired.transforms.items()):
        f = Path(desired.root) / tr.sql
        texts[name] = f.read_text(encoding="utf-8") if f.is_file() else None
    return _digest([desired.model_dump(mode="json", exclude={"root", "files"}), texts])


def _table_part(snapshot: Snapshot, ref: str) -> Any:
    t = snapshot.tables.get(ref)
    if t is None:
        return None
    return {"type": t.type, "rows": t.rows, "view_sql": t.view_sql,
            "columns": None if t.columns is None else [[c.name, c.type, c.mode] for c in t.columns],
            "ledger": sorted([e.source, e.content_hash, e.rows] for e in snapshot.ledger if e.table == ref)}


def _dataset_part(snapshot: Snapshot, name: str) -> Any:
    d = snapshot.datasets.get(name)
    if d is None:
        return None
    return {"location": d.location, "tables": sorted(snapshot.tables_in(name)),
            "checkpoint": snapshot.checkpoints.get(name)}


def dependencies(plan: Plan, desired: DesiredState, snapshot: Snapshot,
                 sources: SourceManifest) -> dict[str, str]:
    """Fingerprint of each part of the warehouse (and staging folder) `plan` depends on:
    'table:<ref>', 'dataset:<name>', 'source:<table><-<file>'."""
    tables: set[str] = set(desired.tables) | set(desired.views)
    datasets: set[str] = set(desired.datasets)
    for a in plan.actions:
        t, d = a.touches(desired)
        tables |= t
        datasets |= d | {x.split(".", 1)[0] for x in t}
    out = {f"table:{r}": _digest(_table_part(snapshot, r)) for r in sorted(tables)}
    out.update({f"dataset:{n}": _digest(_dataset_part(snapshot, n)) for n in sorted(datasets)})
    for a in plan.actions:
        if isinstance(a, MergeLoad):
            sf = sources.get(a.table, a.source)
            out[f"source:{a.table}<-{a.source}"] = sf.content_hash if sf and sf.exists else "missing"
    return out


def _action_dict(a: Action) -> dict[str, Any]:
    d = {f.name: getattr(a, f.name) for f in dataclasses.fields(a)}
    return {"kind": a.kind, **json.loads(json.dumps(d))}


def save(plan: Plan, desired: DesiredState, snapshot: Snapshot, sources: SourceManifest, *,
         target: str, approvals: tuple[str, ...] = (), allow_destructive: bool = False,
         only: tuple[str, ...] = (), created_at: str | None = None) -> tuple[str, str]:
    """(JSON text, fingerprint) of the saved plan."""
    body = {
        "schema_version": SAVED_PLAN_VERSION, "kind": KIND, "project": plan.project, "target": target,
        "spec_hash": spec_hash(desired), "approvals": list(approvals),
        "allow_destructive": allow_destructive, "only": list(only),
        "snapshot_taken_at": plan.snapshot_taken_at, "notes": list(plan.notes),
        "depends_on": dependencies(plan, desired, snapshot, sources),
        "actions": [_action_dict(a) for a in plan.actions],
    }
    fp = _digest(body)
    doc = {**body, "fingerprint": fp, "created_at": created_at}
    return json.dumps(doc, sort_keys=True, indent=2) + "\n", fp


def _rebuild(cls: type, value: Any, hint: Any) -> Any:
    """JSON lists back to the tuples a frozen action holds (nested as the type says)."""
    if isinstance(value, list):
        args = typing.get_args(hint)
        inner = args[0] if args else Any
        if typing.get_origin(hint) is typing.Union or type(hint).__name__ == "UnionType":
            inner = next((a for a in args if a is not type(None)), Any)
            return _rebuild(cls, value, inner)
        return tuple(_rebuild(cls, v, inner) for v in value)
    return value


def _action(d: dict[str, Any], where: str) -> Action:
    cls = _CLASSES.get(d.get("kind", ""))
    if cls is None:
        raise SpecError(where, "actions.kind", f"unknown action kind {d.get('kind')!r}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    extra = set(d) - names - {"kind"}
    if extra:
        raise SpecError(where, f"actions.{cls.__name__}", f"unknown field(s) {', '.join(sorted(extra))}")
    try:
        return cls(**{k: _rebuild(cls, v, hints[k]) for k, v in d.items() if k != "kind"})
    except TypeError as e:
        raise SpecError(where, f"actions.{cls.__name__}", str(e)) from None


def load(path: str | Path) -> SavedPlan:
    """A saved plan; bad or tampered files are one SpecError naming the field."""
    where = str(path)
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        why = "saved plan not found" if isinstance(e, FileNotFoundError) else f"not a saved plan (JSON): {e}"
        raise SpecError(where, "", why) from None
    if not isinstance(doc, dict) or doc.get("kind") != KIND:
        raise SpecError(where, "kind", f"not a saved plan (expected kind {KIND!r}; "
                                       "write one with `reconcile plan --out-plan FILE`)")
    if doc.get("schema_version") != SAVED_PLAN_VERSION:
        raise SpecError(where, "schema_version", f"unsupported version {doc.get('schema_version')!r}, "
                                                 f"expected {SAVED_PLAN_VERSION}")
    body = {k: v for k, v in doc.items() if k not in ("fingerprint", "created_at")}
    if _digest(body) != doc.get("fingerprint"):
        raise SpecError(where, "fingerprint", "the file was changed after it was saved")
    actions = tuple(_action(d, where) for d in doc["actions"])
    plan = Plan(project=doc["project"], actions=actions, snapshot_taken_at=doc.get("snapshot_taken_at"),
                notes=tuple(doc.get("notes", ())))
    return SavedPlan(plan=plan, project=doc["project"], target=doc["target"], spec_hash=doc["spec_hash"],
                     approvals=tuple(doc["approvals"]), allow_destructive=_allows(doc["allow_destructive"]),
                     only=tuple(doc["only"]), depends_on=dict(doc["depends_on"]),
                     fingerprint=doc["fingerprint"], created_at=doc.get("created_at"))


def stale(saved: SavedPlan, desired: DesiredState, snapshot: Snapshot,
          sources: SourceManifest, target: str) -> list[str]:
    """What changed since the plan was saved, one phrase each (empty: still valid)."""
    out: list[str] = []
    if saved.project != desired.project:
        out.append(f"the plan is of project {saved.project}, the spec of {desired.project}")
    if saved.target != target:
        out.append(f"the plan was made for target {saved.target}, not {target}")
    if saved.spec_hash != spec_hash(desired):
        out.append("the spec (or a file it references) changed")
    now = dependencies(saved.plan, desired, snapshot, sources)
    for part in sorted(set(saved.depends_on) | set(now)):
        if saved.depends_on.get(part) != now.get(part):
            kind, _, name = part.partition(":")
            out.append(f"{kind} {name} changed")
    return out


def _allows(value) -> bool | tuple[str, ...]:
    """A saved plan's allows: a bool in files saved before allows were named, else a list."""
    return tuple(value) if isinstance(value, list) else bool(value)
