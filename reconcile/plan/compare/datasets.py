"""Datasets: create the missing ones, flag a wrong region (or relocate it when
approved), resume a relocation that crashed part-way. An approved relocation the
executor would refuse (the ops dataset itself; under the `copy` strategy, a dataset
holding objects a copy cannot carry, such as a routine or a materialized view) is
blocked here, with the reason, before anything runs.

Two strategies, per target (`targets.<t>.relocation`, default by type):
- `copy` (the local target's default): through `<name>__relocating`; carries tables,
  clones, views and the dataset's properties and access entries; refuses routines,
  models, legacy-SQL views, snapshot tables, materialized views, external tables, row
  access policies and policy tags (deleting the dataset would drop them).
- `replica` (the bigquery target's default): BigQuery's cross-region dataset replication
  (ADD REPLICA, wait until complete, promote, DROP REPLICA): the name, every object and the
  properties stay; nothing is deleted before the copy exists. Refused for datasets of
  100,000 tables or more and for policy tags. https://cloud.google.com/bigquery/docs/data-replication

Ownership: a `<name>__relocating` dataset is the tool's only while a checkpoint in ops
records an unfinished relocation of `<name>`. Any other is a human decision: listed with
what it holds, blocked (exit 3), never deleted, and `<name>` is not created beside it.

Reads nothing from the state; adds `blocked_datasets` (a flagged dataset, or one
whose relocation is refused, blocks everything in it) and `managed_datasets` (a
relocation's temporary copy). Pure.
"""

from __future__ import annotations

from reconcile import identifiers as ids
from reconcile.bq.sqltext import qregion, render_sql, replica_statement
from reconcile.plan.actions import CreateDataset, FlagRecreate, RelocateDataset, Unmanaged
from reconcile.plan.graph import RELOCATABLE
from reconcile.plan.names import RELOCATION_SUFFIX
from reconcile.plan.state import PlanInputs, PlanState

# What the copy strategy carries: table data by copy jobs, views from their SQL.
COPY_CARRIES = frozenset({"TABLE", "CLONE", "VIEW"})
# Object kinds beside tables (snapshot DatasetState.objects); none of them survives a copy.
OBJECT_KINDS = ("ROUTINE", "MODEL", "LEGACY_SQL_VIEW", "ROW_ACCESS_POLICY", "POLICY_TAG")
# Dataset replication limits: https://cloud.google.com/bigquery/docs/data-replication#limitations
REPLICA_MAX_TABLES = 100_000
REPLICA_REFUSES = frozenset({"POLICY_TAG"})
_KIND_ORDER = ("TABLE", "CLONE", "SNAPSHOT", "VIEW", "MATERIALIZED VIEW", "EXTERNAL", "OTHER", *OBJECT_KINDS)


def strategy_for(inp: PlanInputs) -> str:
    """The relocation strategy of the snapshot's target: its `relocation`, else `replica`
    for a bigquery target and `copy` for the local one."""
    t = inp.desired.targets.get(inp.snapshot.target)
    if t is not None and t.relocation:
        return t.relocation
    typ = t.type if t is not None else inp.snapshot.target
    return "replica" if typ == "bigquery" else "copy"


def objects_at_stake(inp: PlanInputs, name: str) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """Every object in the dataset, by kind: its tables by type, then the objects beside them."""
    by: dict[str, list[str]] = {}
    for ref, t in inp.tables_in(name).items():
        by.setdefault(t.type, []).append(ref.split(".", 1)[1])
    live = inp.snapshot.datasets.get(name)
    for kind, names in ((live.objects or {}) if live else {}).items():
        by.setdefault(kind, []).extend(names)
    order = {k: i for i, k in enumerate(_KIND_ORDER)}
    return tuple((k, tuple(sorted(v))) for k, v in sorted(by.items(), key=lambda kv: (order.get(kv[0], 99), kv[0])))


def _list(objs: list[tuple[str, tuple[str, ...]]]) -> str:
    return "; ".join(f"{kind} {', '.join(names)}" for kind, names in objs)


def relocation_refused(inp: PlanInputs, name: str, strategy: str = "copy") -> tuple[str, ...]:
    """Why an approved relocation cannot be carried out (what the executor would refuse
    at run time), as blocked_by reasons; empty when it can."""
    reasons = []
    if name == inp.desired.ops_dataset:
        reasons.append(f"{name} is the ops dataset: it holds this tool's own records (ledger, run "
                       "records, lease, relocation checkpoints), which its relocation would write into "
                       "itself; move it by hand (copy jobs), then re-plan")
    objs = objects_at_stake(inp, name)
    if strategy == "copy":
        lost = [(k, v) for k, v in objs if k not in COPY_CARRIES]
        if lost:
            reasons.append(f"the copy strategy cannot carry {_list(lost)}: copy jobs carry tables only "
                           f"(views are recreated from their SQL), and deleting {name} would drop the rest; "
                           "use the replica strategy (targets.<target>.relocation: replica) or move them "
                           "by hand, then re-plan")
    else:
        tables = sum(len(v) for k, v in objs if k not in OBJECT_KINDS)
        if tables >= REPLICA_MAX_TABLES:
            reasons.append(f"{name} holds {tables:,} tables: dataset replication takes fewer than "
                           f"{REPLICA_MAX_TABLES:,}; use the copy strategy")
        bad = [(k, v) for k, v in objs if k in REPLICA_REFUSES]
        if bad:
            reasons.append(f"dataset replication does not carry {_list(bad)}; remove them or use the copy "
                           "strategy with them moved by hand, then re-plan")
        t = inp.desired.targets.get(inp.snapshot.target)
        if (t.type if t is not None else inp.snapshot.target) == "local":
            reasons.append("the local BigQuery has no dataset replication: use the copy strategy")
    return tuple(reasons)


def replica_steps(inp: PlanInputs, name: str, from_location: str, to_location: str) -> tuple[tuple[str, str], ...]:
    """The replica strategy's statements, each checked by the SQL layer (sqlglot tokens)."""
    project = inp.snapshot.project
    wait = render_sql("relocation/wait_replica.sql", region=qregion(to_location))
    wait = "\n".join(x for x in wait.splitlines() if not x.lstrip().startswith("--"))
    return (("add_replica", replica_statement("add_replica", project, name, to_location)),
            ("wait_replica", wait.strip()),
            ("promote", replica_statement("promote", project, name, to_location)),
            ("drop_replica", replica_statement("drop_replica", project, name, from_location)))


def _unowned_relocations(inp: PlanInputs, state: PlanState) -> dict[str, str]:
    """`X__relocating` datasets no unfinished checkpoint of this tool records: each listed,
    blocked, with what it holds. original name -> the reason."""
    s = inp.snapshot
    out: dict[str, str] = {}
    for ds in sorted(s.datasets):
        if not ds.endswith(RELOCATION_SUFFIX):
            continue
        original = ds[: -len(RELOCATION_SUFFIX)]
        cp = s.checkpoints.get(original)
        if cp is not None and cp != "done":
            continue  # ours: an unfinished relocation recorded in ops
        tables = inp.tables_in(ds)
        rows = sum(t.rows or 0 for t in tables.values())
        held = ", ".join(f"{ref.split('.', 1)[1]} ({t.type.lower()}, {t.rows or 0:,} rows)"
                         for ref, t in sorted(tables.items())) or "no tables"
        reason = (f"{ds} exists and no relocation checkpoint of this tool records it "
                  f"({'none' if cp is None else 'the last relocation of ' + original + ' is done'}): "
                  f"a human decision, never deleted or overwritten; it holds {held}; move or delete it "
                  "by hand, then re-plan")
        state.add(Unmanaged(object=ds, object_type="relocation dataset this tool did not make", rows=rows,
                            blocked_by=(reason,)))
        state.managed_datasets.add(ds)  # listed here, with its contents; unmanaged skips it
        out[original] = reason
    return out


def compare(inp: PlanInputs, state: PlanState) -> None:
    d, s = inp.desired, inp.snapshot
    strategy = strategy_for(inp)
    unowned = _unowned_relocations(inp, state)
    for name in sorted(d.datasets):
        spec = d.datasets[name]
        want = d.location_of(name)
        live = s.datasets.get(name)
        checkpoint = s.checkpoints.get(name)
        tables = inp.tables_in(name)
        stray = (unowned[name],) if name in unowned else ()
        if checkpoint and checkpoint != "done":
            # A relocation crashed part-way: resuming is the only safe move.
            temp = inp.tables_in(name + RELOCATION_SUFFIX)
            names = sorted({t.split(".", 1)[1] for t in [*tables, *temp]})
            rows = max(sum(t.rows or 0 for t in tables.values()),
                       sum(t.rows or 0 for t in temp.values()))
            resumed = "replica" if checkpoint in ("add_replica", "wait_replica", "promote", "drop_replica") \
                else "copy"
            # A resumed replica relocation carries its statements again while the dataset is
            # still primary in its old location; after the promotion the snapshot no longer
            # says where it was, and the executor finds the old replica itself.
            moved = live is None or ids.same_location(live.location, want)
            steps = replica_steps(inp, name, live.location, want) if resumed == "replica" and not moved else ()
            if resumed == "replica" and moved:
                steps = tuple((s_, q) for s_, q in replica_steps(inp, name, want, want) if s_ != "drop_replica")
            state.add(RelocateDataset(name=name, from_location=live.location if live else "?",
                                      to_location=want, table_names=tuple(names), rows=rows,
                                      resume_step=checkpoint, strategy=resumed,
                                      objects=objects_at_stake(inp, name), statements=steps))
            state.managed_datasets.add(name + RELOCATION_SUFFIX)
        elif live is None:
            a = state.add(CreateDataset(name=name, location=want, description=spec.description,
                                        labels=tuple(sorted(spec.labels.items())), blocked_by=stray))
            if stray:
                state.blocked_datasets[name] = a.key
        elif not ids.same_location(live.location, want):
            rows = sum(t.rows or 0 for t in tables.values())
            if name in inp.approvals:
                refused = relocation_refused(inp, name, strategy) + stray
                steps = replica_steps(inp, name, live.location, want) if strategy == "replica" else ()
                a = state.add(RelocateDataset(name=name, from_location=live.location, to_location=want,
                                              table_names=tuple(sorted(t.split(".", 1)[1] for t in tables)),
                                              rows=rows, blocked_by=refused, strategy=strategy,
                                              objects=objects_at_stake(inp, name), statements=steps))
                if refused:
                    # It stays where it is: everything in it waits, as for a flag.
                    state.blocked_datasets[name] = a.key
            else:
                a = state.add(FlagRecreate(name=name, actual_location=live.location,
                                           desired_location=want, tables=len(tables), rows=rows,
                                           blocked_by=stray))
                state.blocked_datasets[name] = a.key


__all__ = ["COPY_CARRIES", "OBJECT_KINDS", "RELOCATABLE", "compare", "objects_at_stake", "relocation_refused",
           "replica_steps", "strategy_for"]
