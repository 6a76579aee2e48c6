"""The object graph: every object a node, every read an edge, from the spec and the snapshot.

Nodes are the warehouse's tables and views (live or declared, "dataset.table"), the
spec's transforms ("transform:<name>"), staging and DDL files ("file:<path>") and the
datasets ("dataset:<name>"). An edge says that its reader reads its source, and why
(`via`):

    view        a declared view reads a table or view (its SQL, parsed)
    transform   a transform reads its inputs; each output reads the transform
    ddl         a table declared by a DDL file reads that file
    load        a table reads the staging file merged into it
    migration   a migration destination reads its legacy source
    backup      the backup taken before a migration reads the legacy table
    archive     an archive copy reads the table it copies
    relocation  a dataset in the wrong region reads (carries) every object in it
    ops         the tool's own tables read what they record: the load ledger reads
                loads, migrations and transforms; the checkpoints read relocations

Which object reads which comes from the SQL as parsed when the spec was loaded
(reconcile.spec.sqlparse: `DesiredState.sql_info`), never from patterns over it. The
planner's dependency pass (reconcile.plan.dependencies) asks the graph what each action
reads and writes. Pure data: built from a DesiredState and a Snapshot, no I/O.
"""

from __future__ import annotations

import fnmatch
import functools
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Iterable, Mapping

from reconcile import identifiers as ids
from reconcile.plan.names import (
    CHECKPOINTS_TABLE, LEDGER_TABLE, archive_name, backup_dataset, backup_name,
)
from reconcile.snapshot.model import Snapshot
from reconcile.spec.model import DesiredState

# Live types a copy job carries (a view is recreated from its SQL): anything else in a
# dataset cannot be relocated or archived by this tool.
COPYABLE = frozenset({"TABLE", "SNAPSHOT", "CLONE"})
RELOCATABLE = COPYABLE | {"VIEW"}


@dataclass(frozen=True)
class Node:
    ref: str
    kind: str  # "table", "view", "materialized view", ..., "transform", "file", "dataset"
    live: str | None = None  # the snapshot's type of a table or view; None when absent
    declared: tuple[str, ...] = ()  # how the spec accounts for it ("table", "view", "load target", ...)
    location: str | None = None  # a dataset's live location


@dataclass(frozen=True)
class Edge:
    reader: str
    source: str
    via: str


@dataclass(frozen=True)
class TransformIO:
    """A transform's script as the parser read it."""

    inputs: tuple[str, ...]  # tables read that it does not write
    outputs: tuple[str, ...]  # tables it writes
    creates: tuple[str, ...]  # tables it creates itself (CREATE TABLE [IF NOT EXISTS])


@dataclass(frozen=True)
class ObjectGraph:
    edges: tuple[Edge, ...]
    views: Mapping[str, tuple[str, ...]]  # declared view -> what it reads
    transforms: Mapping[str, TransformIO]
    outside: tuple[tuple[str, str], ...]  # (reader, "project.dataset.table") outside the project
    desired: DesiredState = field(repr=False, compare=False)
    snapshot: Snapshot = field(repr=False, compare=False)
    _declared: Mapping[str, tuple[str, ...]] = field(repr=False, compare=False, default_factory=dict)
    _reads: Mapping[str, tuple[Edge, ...]] = field(repr=False, compare=False, default_factory=dict)
    _readers: Mapping[str, tuple[Edge, ...]] = field(repr=False, compare=False, default_factory=dict)

    @functools.cached_property
    def nodes(self) -> Mapping[str, Node]:
        """Every object: the snapshot's tables and views, what the spec declares, and
        whatever an edge names. Built on first use: the planner needs only the edges, and
        a node per table of a 10,000-table warehouse costs time for nothing."""
        d, s = self.desired, self.snapshot
        declared: dict[str, list[str]] = {ref: ["table"] for ref in d.tables}
        for ref in d.views:
            declared.setdefault(ref, []).append("view")
        for ref, how in self._declared.items():
            declared.setdefault(ref, []).extend(how)
        nodes: dict[str, Node] = {}
        for ref, t in s.tables.items():
            nodes[ref] = Node(ref, t.type.lower(), t.type, tuple(declared.get(ref, ())))
        for e in self.edges:
            for ref in (e.reader, e.source):
                if ref not in nodes:
                    kind = ref.split(":", 1)[0] if ":" in ref else "table"
                    nodes[ref] = Node(ref, kind, None, tuple(declared.get(ref, ())))
        for ref, how in declared.items():
            if ref not in nodes:
                nodes[ref] = Node(ref, "view" if "view" in how else "table", None, tuple(how))
        for name in set(d.datasets) | set(s.datasets):
            key = f"dataset:{name}"
            live = s.datasets.get(name)
            nodes.setdefault(key, Node(key, "dataset", "DATASET" if live else None,
                                       ("dataset",) if name in d.datasets else (),
                                       live.location if live else None))
        return MappingProxyType(nodes)

    def reads(self, ref: str) -> list[str]:
        """What `ref` reads (its sources)."""
        return [e.source for e in self._reads.get(ref, ())]

    def readers(self, ref: str) -> list[str]:
        """What reads `ref`."""
        return [e.reader for e in self._readers.get(ref, ())]

    def downstream(self, ref: str) -> set[str]:
        """Everything that reads `ref`, directly or through another reader."""
        seen: set[str] = set()
        todo = [ref]
        while todo:
            for r in self.readers(todo.pop()):
                if r not in seen:
                    seen.add(r)
                    todo.append(r)
        return seen

    def exists_live(self, ref: str) -> bool:
        n = self.nodes.get(ref)
        return n is not None and n.live is not None


def matches(pattern: str, refs: Iterable[str]) -> list[str]:
    """The refs a read names: itself, or every table a wildcard table (`ds.prefix_*`) matches.
    Give a set (or dict) for `refs`: a plain name is looked up, not searched for."""
    if "*" not in pattern:
        found = pattern in refs if isinstance(refs, (set, frozenset, dict)) else pattern in set(refs)
        return [pattern] if found else []
    return sorted(r for r in refs if fnmatch.fnmatchcase(r, pattern))


def build(desired: DesiredState, snapshot: Snapshot) -> ObjectGraph:
    """The graph of `desired` over `snapshot`. Pure."""
    d, s = desired, snapshot
    declared: dict[str, list[str]] = {}  # how the spec accounts for objects it does not declare
    edges: list[Edge] = []

    def declare(ref: str, how: str) -> None:
        declared.setdefault(ref, []).append(how)

    def edge(reader: str, source: str, via: str) -> None:
        edges.append(Edge(reader, source, via))

    outside: list[tuple[str, str]] = []
    views: dict[str, tuple[str, ...]] = {}
    for ref, v in d.views.items():
        info = d.sql_info.get(v.sql)
        views[ref] = tuple(info.reads) if info else ()
        for src in views[ref]:
            edge(ref, src, "view")
        outside += [(ref, o) for _, o in (info.outside if info else [])]
    transforms: dict[str, TransformIO] = {}
    for name, tr in d.transforms.items():
        info = d.sql_info.get(tr.sql)
        writes = tuple(tr.outputs)
        inputs = tuple(i for i in tr.inputs if i not in set(writes))
        transforms[name] = TransformIO(inputs, writes, tuple(info.creates) if info else ())
        node = f"transform:{name}"
        for i in inputs:
            edge(node, i, "transform")
        for o in writes:
            declare(o, "transform output")
            edge(o, node, "transform")
        edge(f"{d.ops_dataset}.{LEDGER_TABLE}", node, "ops")
        outside += [(node, o) for _, o in (info.outside if info else [])]
    for ref, t in d.tables.items():
        if t.ddl:
            edge(ref, f"file:{t.ddl}", "ddl")
    for ld in d.loads:
        declare(ld.table, "load target")
        edge(ld.table, f"file:{ld.source}", "load")
        edge(f"{d.ops_dataset}.{LEDGER_TABLE}", f"file:{ld.source}", "ops")
    bds = backup_dataset(d)
    by_dataset: dict[str, list[tuple[str, str, str]]] = {}  # dataset -> (ref, table, type)
    for ref, t in s.tables.items():
        ds, table = ref.split(".", 1)
        by_dataset.setdefault(ds, []).append((ref, table, t.type))
    for mg in d.migrations:
        for src, table, typ in by_dataset.get(mg.source_dataset, []):
            if typ != "TABLE" or not fnmatch.fnmatchcase(table, mg.pattern):
                continue
            dst = f"{mg.to}.{mg.rename.apply(table)}"
            declare(dst, "migration destination")
            edge(dst, src, "migration")
            edge(f"{d.ops_dataset}.{LEDGER_TABLE}", src, "ops")
            if mg.backup:
                edge(f"{bds}.{backup_name(mg.source_dataset, table)}", src, "backup")
    if d.archive is not None:
        for ds, entries in by_dataset.items():
            if not d.archive.matches(ds):
                continue
            for src, table, typ in entries:
                if typ in COPYABLE:
                    dest = f"{d.archive.dataset}.{archive_name(ds, table)}"
                    declare(dest, "archive copy")
                    edge(dest, src, "archive")
    for name in d.datasets:
        live = s.datasets.get(name)
        if live is not None and not ids.same_location(live.location, d.location_of(name)):
            for ref, _, _ in by_dataset.get(name, []):
                edge(f"dataset:{name}", ref, "relocation")
            edge(f"{d.ops_dataset}.{CHECKPOINTS_TABLE}", f"dataset:{name}", "ops")
    reads: dict[str, list[Edge]] = {}
    readers: dict[str, list[Edge]] = {}
    for e in edges:
        reads.setdefault(e.reader, []).append(e)
        readers.setdefault(e.source, []).append(e)
    return ObjectGraph(
        edges=tuple(edges), views=MappingProxyType(views), transforms=MappingProxyType(transforms),
        outside=tuple(outside), desired=d, snapshot=s,
        _declared=MappingProxyType({k: tuple(v) for k, v in declared.items()}),
        _reads=MappingProxyType({k: tuple(v) for k, v in reads.items()}),
        _readers=MappingProxyType({k: tuple(v) for k, v in readers.items()}))
