"""Relocation: one dataset moved to another region, step by step, resumable after a crash.

The `replica` strategy is reconcile.apply.replication. The `copy` strategy, here: BigQuery
cannot move a dataset, so an approved RelocateDataset copies it out to
`<name>__relocating` in the new region, verifies, deletes the old dataset, recreates it
in the new region, copies back, verifies and drops the temporary dataset. Each step in
RELOCATION_STEPS is recorded in `<ops>.relocation_checkpoints` once complete; a resumed
relocation (the planner found a checkpoint) starts after the last one recorded.

Every step is idempotent: it looks at what exists and does only the rest. Nothing is
deleted before its copy is verified by exact row counts, and the old dataset is
verified once more right before it is deleted.
"""

from __future__ import annotations

import json
import logging

from reconcile import identifiers as ids
from reconcile.apply.context import EXECUTOR_LOG, Context, pause, sql
from reconcile.apply.replication import REPLICA_STEPS, replicate
from reconcile.apply.results import ActionFailed, Done, done
from reconcile.bq.sqltext import QuotedIdent, qtable
from reconcile.plan.actions import RelocateDataset
from reconcile.plan.names import RELOCATION_SUFFIX

log = logging.getLogger(EXECUTOR_LOG)

# A relocation's steps, in order; each is recorded in <ops>.relocation_checkpoints
# once complete, and a resumed relocation starts after the last one recorded.
RELOCATION_STEPS = ("copy_out", "verify_out", "delete_old", "recreate", "copy_back",
                    "verify_back", "drop_temp", "done")
# Views cannot be copied (a copy job copies data) nor created in the temporary
# dataset (on BigQuery a view's query must resolve in its own location), so a
# relocating dataset's view definitions are kept as one-row tables in the
# temporary dataset and the views are recreated after the copy back.
VIEW_RECORD_PREFIX = "_reconcile_view__"
# The original dataset's properties and access entries, saved in the temporary dataset
# (one row of JSON) before the original is deleted, and set on the recreated one.
PROPERTIES_RECORD = "_reconcile_dataset__properties"
# Recorded before the temporary dataset is created: from then on it is the tool's own.
BEGIN = "begin"
# What the copy strategy carries by copy job (a SNAPSHOT table would come back a TABLE).
COPYABLE = frozenset({"TABLE", "CLONE"})


def remaining_steps(resume_step: str | None, strategy: str = "copy") -> tuple[str, ...]:
    """The steps still to run after the checkpoint `resume_step` (all of them if None)."""
    steps = REPLICA_STEPS if strategy == "replica" else RELOCATION_STEPS
    start = steps.index(resume_step) + 1 if resume_step in steps else 0
    return steps[start:]


def relocate(ctx: Context, a: RelocateDataset) -> Done:
    """Run the relocation's remaining steps, checkpointing each one."""
    if a.name == ctx.ops:
        raise ActionFailed(f"{a.name} is the ops dataset that records the relocation's own "
                           "checkpoints: move it by hand (copy jobs), then re-plan")
    if a.strategy == "replica":
        return replicate(ctx, a)
    if a.resume_step is not None and a.resume_step not in (BEGIN, *RELOCATION_STEPS):
        raise ActionFailed(f"unknown checkpoint {a.resume_step!r} (steps: {', '.join(RELOCATION_STEPS)})")
    temp = a.name + RELOCATION_SUFFIX
    if a.resume_step is None and ctx.location(temp) is not None:
        # No checkpoint of ours records it: someone else's, maybe the only copy of its tables.
        held = ", ".join(f"{n} ({t})" for n, t in ctx.adapter.list_tables(temp)) or "no tables"
        raise ActionFailed(f"{temp} exists and no relocation checkpoint of this tool records it "
                           f"(it holds {held}): not touched; move or delete it by hand, then re-plan")
    r = Relocation(ctx, a)
    steps: list[str] = []
    for step in remaining_steps(a.resume_step):
        getattr(r, step)()
        ctx.checkpoint(a.name, step)
        steps.append(step)
        log.info("relocation of %s: %s done", a.name, step)
        pause(f"relocate:{step}")
    resumed = f" (resumed after {a.resume_step})" if a.resume_step else ""
    return done(f"relocated {a.name} to {a.to_location}: {len(r.tables)} table(s), "
                f"{sum(r.rows.values()):,} rows, {len(r.views)} view(s) verified{resumed}",
                steps=steps, tables=len(r.tables), rows=sum(r.rows.values()),
                views=sorted(r.views), to_location=a.to_location)


class Relocation:
    """One dataset moved to another region through `<name>__relocating`, step by step.
    Every step is idempotent: it looks at what exists and does only the rest."""

    def __init__(self, ctx: Context, a: RelocateDataset):
        self.ctx = ctx
        self.a = a
        self.ad = ctx.adapter
        self.name = a.name
        self.temp = a.name + RELOCATION_SUFFIX
        self.to = a.to_location
        self.tables: list[str] = []  # table names carried (views excluded)
        self.views: dict[str, str] = {}  # view name -> SQL
        self.rows: dict[str, int] = {}  # table name -> verified count

    # helpers
    def _old_objects(self) -> list[tuple[str, str]]:
        objs = self.ad.list_tables(self.name)
        bad = [f"{n} ({t})" for n, t in objs if t not in COPYABLE and t != "VIEW"]
        if any(n == PROPERTIES_RECORD for n, _ in objs):
            bad.append(f"{PROPERTIES_RECORD} (a name this tool reserves)")
        # Routines, models, legacy-SQL views, policy tags, row access policies: deleting the
        # dataset would drop them, and a copy job carries none. Refused before anything is deleted.
        bad += [f"{n} ({kind})" for kind, names in sorted(self.ad.dataset_objects(self.name).items())
                for n in names]
        if bad:
            raise ActionFailed(f"cannot relocate {', '.join(bad)} by copy: copy jobs carry tables only "
                               "(views are recreated from their SQL); move these by hand or use the replica "
                               "strategy, then resume")
        return objs

    def _save_properties(self) -> None:
        props = self.ad.dataset_properties(self.name) or {}
        rec = f"{self.temp}.{PROPERTIES_RECORD}"
        self.ad.create_table(rec, [("properties", "STRING", "NULLABLE")],
                             description=f"properties of {self.name} during relocation")
        self.ad.insert_rows_dml(rec, [{"properties": json.dumps(props, sort_keys=True)}], location=self.to)

    def _saved_properties(self) -> dict | None:
        if PROPERTIES_RECORD not in dict(self.ad.list_tables(self.temp)):
            return None
        rows = self.ad.query(sql("apply/read_properties_record.sql",
                                 table=self.ctx.q(f"{self.temp}.{PROPERTIES_RECORD}")),
                             location=self.ctx.need_dataset(self.temp), what="read saved dataset properties")
        return json.loads(rows[0]["properties"]) if rows else None

    def _temp_objects(self) -> dict[str, str]:
        return dict(self.ad.list_tables(self.temp))

    def _compare(self, a_ds: str, b_ds: str, names: list[str]) -> dict[str, tuple[int, int]]:
        """Exact counts of the same tables in two datasets: name -> (a, b)."""
        a_loc, b_loc = self.ctx.need_dataset(a_ds), self.ctx.need_dataset(b_ds)
        ca = self.ad.count_rows_many([f"{a_ds}.{n}" for n in names], location=a_loc)
        cb = self.ad.count_rows_many([f"{b_ds}.{n}" for n in names], location=b_loc)
        return {n: (ca[f"{a_ds}.{n}"], cb[f"{b_ds}.{n}"]) for n in names}

    def _view_records(self) -> dict[str, str]:
        """View name -> SQL saved in the temporary dataset."""
        loc = self.ctx.need_dataset(self.temp)
        out = {}
        for n, _ in self.ad.list_tables(self.temp):
            if n.startswith(VIEW_RECORD_PREFIX):
                rows = self.ad.query(sql("apply/read_view_record.sql", table=self.ctx.q(f"{self.temp}.{n}")),
                                     location=loc, what=f"read saved view {n}")
                if rows:
                    out[n[len(VIEW_RECORD_PREFIX):]] = rows[0]["view_sql"]
        return out

    def _verify(self, src: str, dst: str, names: list[str]) -> None:
        missing = [n for n in names if n not in dict(self.ad.list_tables(dst))]
        if missing:
            raise ActionFailed(f"{dst} lacks {', '.join(missing)}: not going on")
        pairs = self._compare(src, dst, names)
        wrong = {n: p for n, p in pairs.items() if p[0] != p[1]}
        if wrong:
            raise ActionFailed("row counts differ: " + ", ".join(
                f"{n}: {a:,} in {src}, {b:,} in {dst}" for n, (a, b) in sorted(wrong.items())),
                {"counts": {n: list(p) for n, p in pairs.items()}})
        self.rows = {n: p[1] for n, p in pairs.items()}

    def _carried(self) -> list[str]:
        """The tables carried by the temporary dataset (its view and properties records excluded)."""
        return sorted(n for n, _ in self.ad.list_tables(self.temp)
                      if not n.startswith(VIEW_RECORD_PREFIX) and n != PROPERTIES_RECORD)

    # steps
    def copy_out(self) -> None:
        old_loc = self.ctx.need_dataset(self.name)
        if ids.same_location(old_loc, self.to):
            raise ActionFailed(f"{self.name} is already in {self.to}: nothing to relocate")
        temp_loc = self.ctx.location(self.temp)
        objs = self._old_objects()  # refuses what a copy cannot carry, before anything is made
        if temp_loc is None:
            # From this checkpoint on, the temporary dataset is recorded as the tool's own.
            self.ctx.checkpoint(self.name, BEGIN)
            self.ad.create_dataset(self.temp, self.to, f"relocation of {self.name} to {self.to} in progress")
            self.ctx.forget(self.temp)
        elif not ids.same_location(temp_loc, self.to):
            raise ActionFailed(f"{self.temp} exists in {temp_loc}, not {self.to}: remove it by hand")
        self.tables = sorted(n for n, t in objs if t in COPYABLE)
        view_names = sorted(n for n, t in objs if t == "VIEW")
        # Only the BEGIN checkpoint precedes this step (relocate() refuses a temporary dataset
        # no checkpoint records), so whatever it holds was left by an attempt of ours that never
        # verified it (and the old tables may have changed since): replaced, never trusted.
        for n in sorted(self._temp_objects()):
            self.ad.delete_table(f"{self.temp}.{n}")
        self._save_properties()
        for n in self.tables:
            self.ad.copy_table(f"{self.name}.{n}", f"{self.temp}.{n}")
        pause("relocate:copy_out:tables_copied")
        if view_names:
            defs = self.ad.view_definitions(self.name, location=old_loc)
            for v in view_names:
                rec = f"{self.temp}.{VIEW_RECORD_PREFIX}{v}"
                self.ad.create_table(rec, [("view_sql", "STRING", "NULLABLE")],
                                     description=f"definition of view {self.name}.{v} during relocation")
                self.ad.insert_rows_dml(rec, [{"view_sql": defs[v]}], location=self.to)
                self.views[v] = defs[v]

    def verify_out(self) -> None:
        objs = self._old_objects()
        self.tables = sorted(n for n, t in objs if t in COPYABLE)
        self._verify(self.name, self.temp, self.tables)
        self.views = self._view_records()
        lost = [n for n, t in objs if t == "VIEW" and n not in self.views]
        if lost:
            raise ActionFailed(f"definitions of view(s) {', '.join(lost)} not saved: not going on")
        if self._saved_properties() is None:
            raise ActionFailed(f"the properties of {self.name} are not saved: not going on")

    def delete_old(self) -> None:
        loc = self.ctx.location(self.name)
        if loc is None:
            return  # deleted before a crash, after verify_out was recorded
        if ids.same_location(loc, self.to):
            return  # already recreated (crash after recreate, before its checkpoint)
        # Verified once more, right before the only irreversible step.
        self.verify_out()
        self.ad.delete_dataset(self.name)
        self.ctx.forget(self.name)

    def recreate(self) -> None:
        loc = self.ctx.location(self.name)
        if loc is None:
            spec = self.ctx.d.datasets.get(self.name)
            props = dict(self._saved_properties() or {})
            if spec and spec.description:
                props["description"] = spec.description
            if spec and spec.labels:
                props["labels"] = dict(spec.labels)
            self.ad.create_dataset_with(self.name, self.to, props)
            self.ctx.forget(self.name)
            loc = self.ctx.need_dataset(self.name)
        if not ids.same_location(loc, self.to):
            raise ActionFailed(f"{self.name} exists in {loc}, not {self.to}")

    def copy_back(self) -> None:
        self.tables = self._carried()
        have = dict(self.ad.list_tables(self.name))
        present = [n for n in self.tables if n in have]
        counts = self._compare(self.temp, self.name, present) if present else {}
        for n in self.tables:
            if n in have:
                if counts[n][0] == counts[n][1]:
                    continue
                self.ad.delete_table(f"{self.name}.{n}")  # the recreated dataset is ours
            self.ad.copy_table(f"{self.temp}.{n}", f"{self.name}.{n}")
        self.views = self._view_records()
        for v, body in sorted(self.views.items()):
            ds, t = ids.split_table_ref(f"{self.name}.{v}")
            self.ad.execute(sql("apply/create_view.sql", view=qtable(self.ad.project, ds, t),
                                body=QuotedIdent(body)),
                            location=self.to, what=f"recreate view {self.name}.{v}")

    def verify_back(self) -> None:
        self.tables = self._carried()
        self._verify(self.temp, self.name, self.tables)
        self.views = self._view_records()
        have = dict(self.ad.list_tables(self.name))
        lost = [v for v in self.views if have.get(v) != "VIEW"]
        if lost:
            raise ActionFailed(f"view(s) {', '.join(lost)} not recreated in {self.name}")
        saved, now = self._saved_properties() or {}, self.ad.dataset_properties(self.name) or {}
        spec = self.ctx.d.datasets.get(self.name)
        skip = {"description"} if spec and spec.description else set()
        skip |= {"labels"} if spec and spec.labels else set()
        differ = [k for k in saved if k not in skip and _canon(saved[k]) != _canon(now.get(k))]
        if differ:
            raise ActionFailed(f"{self.name} recreated without its {', '.join(sorted(differ))}: not going on")

    def drop_temp(self) -> None:
        if self.ctx.location(self.temp) is not None and not self.rows:
            # Resumed right here: re-verify before dropping the only other copy.
            self.verify_back()
        self.ad.delete_dataset(self.temp)
        self.ctx.forget(self.temp)

    def done(self) -> None:
        pass


def _canon(v):
    """A property value compared regardless of order (access entries are a set)."""
    if isinstance(v, list):
        return sorted(json.dumps(x, sort_keys=True) for x in v)
    return json.dumps(v, sort_keys=True) if isinstance(v, dict) else (None if v is None else str(v))
