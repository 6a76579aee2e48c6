"""The dependency pass: the object graph applied to the planned actions.

After the comparisons have found what differs, `resolve()` asks the object graph
(reconcile.plan.graph) what each action reads, writes and creates (`IO`), then:

1. orders the actions by the graph: an action comes after those that create or write
   what it reads, and before one that deletes what it reads; the phases
   (`planner.order`) break ties, so a plan whose phases already agree keeps its order;
2. walks them in that order, keeping what will exist (the snapshot, then what each
   action that is not blocked creates), and blocks, with the reason in `blocked_by`,
   an action
   - that reads or writes an object that will not exist when it runs ("view v reads t:
     it does not exist and nothing in this plan creates it"), or whose creator is
     blocked (the creator's key);
   - that reads or writes in a flagged dataset (the flag's key), and, when the ops
     dataset itself is flagged or cannot be relocated, every action that changes
     anything: each one writes its run record (and the lease) into ops;
   - that depends (`Action.touches`) on what an earlier blocked action leaves unsafe
     (`Action.taints`), as the executor would at run time (reconcile.apply.run);
   - a view or transform that reads across locations, on the `bigquery` target
     (BigQuery runs a query in one location; the local emulator does not care: there
     it is a note);
3. fills each action's `inputs` and `blocks` (the actions it holds up, directly or
   through another blocked one), which the plan JSON carries.

Pure: data in, data out. No I/O.
"""

from __future__ import annotations

import heapq
from dataclasses import replace
from typing import Iterable

from reconcile import identifiers as ids
from reconcile.plan.actions import Action, BackupTable, RelocateDataset
from reconcile.plan.io import IO, _ds, io_of, subject
from reconcile.plan.graph import ObjectGraph, matches
from reconcile.plan.state import PlanInputs, PlanState

NOT_CREATED = "it does not exist and nothing in this plan creates it"


# ---------------------------------------------------------------- ordering


# Actions that read a table as it is before the plan changes it: never ordered after
# the table's writers (a backup is taken of what is there now).
_READS_BEFORE = (BackupTable,)


def graph_order(ordered: list[Action], ios: dict[str, IO], existing: set[str] | frozenset[str] = frozenset()
                ) -> list[Action]:
    """`ordered` (the phase order) re-ordered so that each action comes after what it
    depends on in the graph: what creates an object that does not exist yet comes before
    anything that uses it; what writes a table comes before what consumes it (a view, a
    transform, a gate); what deletes a table comes after everything that uses it. Ties
    keep the phase order; a cycle is broken in phase order."""
    n = len(ordered)
    creators: dict[str, list[int]] = {}
    writers: dict[str, list[int]] = {}
    users: dict[str, list[int]] = {}  # read or write it
    readers: dict[str, list[int]] = {}
    droppers: dict[str, list[int]] = {}
    ds_creators: dict[str, list[int]] = {}
    for i, a in enumerate(ordered):
        io = ios[a.key]
        for o in io.creates:
            if o not in existing:  # creating what exists replaces it: a write
                creators.setdefault(o, []).append(i)
        for o in io.writes:
            writers.setdefault(o, []).append(i)
            users.setdefault(o, []).append(i)
        for o in io.reads:
            if not isinstance(a, _READS_BEFORE):
                readers.setdefault(o, []).append(i)
            users.setdefault(o, []).append(i)
        for o in io.drops:
            droppers.setdefault(o, []).append(i)
        for ds in io.creates_datasets:
            ds_creators.setdefault(ds, []).append(i)
    after: list[set[int]] = [set() for _ in range(n)]  # after[j]: what j must follow

    def wildcard_users(pattern_map: dict[str, list[int]], obj: str) -> list[int]:
        return [j for p, js in pattern_map.items() if "*" in p and matches(p, [obj]) for j in js]

    for o, cs in creators.items():
        for j in users.get(o, []) + wildcard_users(users, o):
            after[j].update(c for c in cs if c != j)
    for o, ws in writers.items():
        for j in readers.get(o, []) + wildcard_users(readers, o):
            if j not in writers.get(o, []):
                after[j].update(w for w in ws if w != j)
    for o, ds in droppers.items():
        for d in ds:
            after[d].update(u for u in users.get(o, []) if u != d)
    for i, a in enumerate(ordered):
        for ds in ios[a.key].datasets:
            after[i].update(c for c in ds_creators.get(ds, []) if c != i)
    waiting = [len(s) for s in after]
    followers: list[list[int]] = [[] for _ in range(n)]
    for j, s in enumerate(after):
        for i in s:
            followers[i].append(j)
    ready = [i for i in range(n) if waiting[i] == 0]
    heapq.heapify(ready)
    done: list[int] = []
    emitted = [False] * n
    while len(done) < n:
        if not ready:  # a cycle: take the earliest action still waiting
            heapq.heappush(ready, next(i for i in range(n) if not emitted[i]))
        i = heapq.heappop(ready)
        if emitted[i]:
            continue
        emitted[i] = True
        done.append(i)
        for j in followers[i]:
            waiting[j] -= 1
            if waiting[j] == 0 and not emitted[j]:
                heapq.heappush(ready, j)
    return [ordered[i] for i in done]


# ---------------------------------------------------------------- the walk


class _Walk:
    """What exists, and what is unsafe, as the plan's actions run in order."""

    def __init__(self, inp: PlanInputs, state: PlanState, plan: list[Action], ios: dict[str, IO]):
        self.inp, self.state, self.ios = inp, state, ios
        self.desired = inp.desired
        self.exists = set(inp.snapshot.tables)
        self.datasets = set(inp.snapshot.datasets)
        self.creators: dict[str, list[Action]] = {}
        self.ds_creators: dict[str, list[Action]] = {}
        for a in plan:
            for o in ios[a.key].creates:
                self.creators.setdefault(o, []).append(a)
            for ds in ios[a.key].creates_datasets:
                self.ds_creators.setdefault(ds, []).append(a)
        self.seen: dict[str, Action] = {}  # key -> the action as walked (blocked or not)
        self.bad_tables: dict[str, str] = {}
        self.bad_datasets: dict[str, str] = {}
        self.relocated: set[str] = set()
        self.notes: list[str] = []
        ops = self.desired.ops_dataset
        self.ops_blocker = state.blocked_datasets.get(ops)
        self.bigquery = _is_bigquery(inp)

    def present(self, ref: str) -> bool:
        return bool(matches(ref, self.exists))

    def missing(self, a: Action, ref: str, verb: str) -> list[str]:
        """Why `a` cannot count on `ref` existing when it runs (empty: it will)."""
        if self.present(ref):
            return []
        made = [c for c in self.creators.get(ref, []) if c.key != a.key]
        if "*" in ref:
            made = [c for o, cs in self.creators.items() if matches(ref, [o]) for c in cs if c.key != a.key]
        blocked = [c.key for c in made if c.key in self.seen and self.seen[c.key].blocked_by]
        if blocked:
            return blocked
        if made and not any(c.key in self.seen for c in made):
            return [f"{subject(a)} {verb} {ref}, which this plan creates only afterwards "
                    f"({made[0].key}): a cycle"]
        if made:
            return [f"{subject(a)} {verb} {ref}: it no longer exists when this runs (deleted earlier "
                    "in this plan)"]
        if ref == a.target and verb == "reads":
            return [f"{subject(a)}: {ref} does not exist and nothing in this plan creates it"]
        return [f"{subject(a)} {verb} {ref}: {NOT_CREATED}"]

    def location_after(self, ds: str) -> str | None:
        """Where a dataset will be once the plan has run (None: it will not exist)."""
        d, live = self.desired, self.inp.snapshot.datasets.get(ds)
        if ds in d.datasets:
            if live is None:
                return d.location_of(ds) if ds in self.datasets else None
            if ids.same_location(live.location, d.location_of(ds)) or ds in self.relocated:
                return d.location_of(ds)
        return live.location if live else None

    def across(self, a: Action, io: IO) -> list[str]:
        """A view or transform reading datasets in more than one location."""
        if not io.query:
            return []
        here_ds = io.query[0]
        here = self.location_after(here_ds)
        out = []
        for ds in io.query[1:]:
            there = self.location_after(ds)
            if here is None or there is None or ids.same_location(here, there):
                continue
            what = next((r for r in io.reads if _ds(r) == ds), ds)
            if self.bigquery:
                out.append(f"{subject(a)} reads {what} in {there} and runs in {here} ({here_ds}): "
                           "BigQuery runs a query in one location")
            else:
                self.notes.append(f"{subject(a)} reads {what} in {there} and runs in {here} ({here_ds}): "
                                  "the local emulator allows it; on BigQuery it is refused (blocked there)")
        return out

    def step(self, a: Action) -> Action:
        io = self.ios[a.key]
        a = replace(a, inputs=io.inputs)
        if a.reports_only:
            self.seen[a.key] = a
            return a
        reasons: list[str] = list(a.blocked_by)
        if self.ops_blocker is not None and self.ops_blocker != a.key:
            reasons.append(self.ops_blocker)
        touched_ds = {_ds(o) for o in io.objects} | set(io.datasets)
        reasons += [self.state.blocked_datasets[ds] for ds in sorted(touched_ds)
                    if ds in self.state.blocked_datasets and self.state.blocked_datasets[ds] != a.key]
        for r in io.reads:
            reasons += self.missing(a, r, "reads")
        for w in io.writes:
            if w not in io.creates:
                reasons += self.missing(a, w, "writes")
        for ds in io.datasets:
            if ds not in self.datasets:
                made = [c for c in self.ds_creators.get(ds, []) if c.key != a.key]
                blocked = [c.key for c in made if c.key in self.seen and self.seen[c.key].blocked_by]
                reasons += blocked or ([] if made else [f"{subject(a)}: dataset {ds} does not exist "
                                                        "and nothing in this plan creates it"])
        reasons += self.across(a, io)
        tables, datasets = a.touches(self.desired)
        reasons += [self.bad_tables[t] for t in sorted(tables) if t in self.bad_tables]
        reasons += [self.bad_datasets[ds] for ds in sorted(datasets) if ds in self.bad_datasets]
        blocked_by = tuple(dict.fromkeys(r for r in reasons if r != a.key))
        # A blocked action named only because of a blocker already listed adds nothing:
        # name the first cause (the wrong-region flag), not each action it stopped.
        listed = set(blocked_by)
        blocked_by = tuple(r for r in blocked_by
                           if not (r in self.seen and self.seen[r].blocked_by
                                   and set(self.seen[r].blocked_by) <= listed))
        if blocked_by != a.blocked_by:
            a = replace(a, blocked_by=blocked_by)
        self.seen[a.key] = a
        if a.blocked_by:
            t_tables, t_datasets = a.taints()
            for t in t_tables:
                self.bad_tables.setdefault(t, a.key)
            for ds in t_datasets:
                self.bad_datasets.setdefault(ds, a.key)
            return a
        self.exists |= set(io.creates) | set(io.writes)
        self.exists -= set(io.drops)
        self.datasets |= set(io.creates_datasets)
        if isinstance(a, RelocateDataset):
            self.relocated.add(a.name)
        return a


def _is_bigquery(inp: PlanInputs) -> bool:
    t = inp.desired.targets.get(inp.snapshot.target)
    return (t.type if t is not None else inp.snapshot.target) == "bigquery"


def holds_up(actions: Iterable[Action]) -> dict[str, tuple[str, ...]]:
    """key -> keys of the actions blocked because of it, directly or through another
    blocked action, in plan order."""
    actions = list(actions)
    position = {a.key: i for i, a in enumerate(actions)}
    direct: dict[str, list[str]] = {}
    for a in actions:
        for b in a.blocked_by:
            if b in position:
                direct.setdefault(b, []).append(a.key)
    out: dict[str, tuple[str, ...]] = {}
    for key in direct:
        seen: set[str] = set()
        todo = list(direct[key])
        while todo:
            k = todo.pop()
            if k not in seen and k != key:
                seen.add(k)
                todo += direct.get(k, [])
        out[key] = tuple(sorted(seen, key=position.__getitem__))
    return out


def resolve(inp: PlanInputs, state: PlanState, graph: ObjectGraph,
            ordered: list[Action]) -> tuple[list[Action], list[str]]:
    """The plan's actions ordered by the graph, blocked where the graph says so, with
    their inputs and what they hold up; and the notes the graph has for the plan. Pure."""
    backups: dict[str, tuple[str, ...]] = {}
    for b in ordered:
        if isinstance(b, BackupTable):
            backups[b.source] = backups.get(b.source, ()) + (b.backup,)
    ios = {a.key: io_of(a, inp, graph, backups) for a in ordered}
    walk = _Walk(inp, state, ordered, ios)
    walked = [walk.step(a) for a in graph_order(ordered, ios, set(inp.snapshot.tables))]
    blocks = holds_up(walked)
    out = [replace(a, blocks=blocks[a.key]) if a.key in blocks else a for a in walked]
    notes = list(dict.fromkeys(walk.notes))
    notes += [f"{reader} reads {ref}: outside the project {inp.desired.project}, not checked"
              for reader, ref in graph.outside]
    return out, notes
