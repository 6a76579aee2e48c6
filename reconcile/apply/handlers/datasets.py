"""Handlers for datasets: create one in its declared region, relocate an approved one."""

from __future__ import annotations

from reconcile import identifiers as ids
from reconcile.apply import relocation
from reconcile.apply.context import Context
from reconcile.apply.handlers.base import HANDLERS
from reconcile.apply.results import ActionFailed, Done, done, noop
from reconcile.plan.actions import CreateDataset, RelocateDataset


@HANDLERS.register(CreateDataset)
def create_dataset(ctx: Context, a: CreateDataset) -> Done:
    loc = ctx.location(a.name)
    if loc is not None:
        if ids.same_location(loc, a.location):
            return noop(f"exists in {loc}", location=loc)
        raise ActionFailed(f"exists in {loc}, declared in {a.location}: approve a relocation",
                           {"location": loc})
    ctx.adapter.create_dataset(a.name, a.location, a.description, dict(a.labels) or None)
    ctx.forget(a.name)
    loc = ctx.need_dataset(a.name)
    if not ids.same_location(loc, a.location):
        raise ActionFailed(f"created, but it reports location {loc}, not {a.location}", {"location": loc})
    return done(f"created in {loc}", location=loc)


@HANDLERS.register(RelocateDataset)
def relocate_dataset(ctx: Context, a: RelocateDataset) -> Done:
    """The relocation state machine (reconcile.apply.relocation), from its last checkpoint."""
    return relocation.relocate(ctx, a)
