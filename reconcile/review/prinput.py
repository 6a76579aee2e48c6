"""What the pull-request comment is made from, and reading it (`gather`).

`gather` reads the spec at the base ref and in the checkout (git), lints the PR's
spec, and plans it, offline, against the last saved snapshot (and the base spec
against the same snapshot, to tell what the PR adds or removes). No credentials,
no BigQuery. The dataclasses are the comment's whole input: `prcomment` composes
them, purely.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from reconcile.plan.actions import MissingSource, Plan
from reconcile.review.lint import LintReport, lint, read_sql
from reconcile.review.specdiff import Side, SpecDiff, diff, read_base
from reconcile.snapshot.model import Snapshot
from reconcile.spec.load import load_spec
from reconcile.spec.model import SpecError


@dataclass(frozen=True)
class PlanInput:
    plan: Plan
    snapshot_file: str
    taken_at: str
    base_plan: Plan | None = None  # the base spec against the same snapshot
    staging_missing: int = 0  # loads not planned: the staging folder is not in this checkout
    # What `reconcile plan --snapshot FILE --out-plan` would stamp on this same plan: an
    # approval can name the plan it approves (reconcile.plan.saved).
    fingerprint: str | None = None


@dataclass(frozen=True)
class CommentInput:
    project: str
    spec: str
    base_ref: str
    diff: SpecDiff
    lint: LintReport
    plan: PlanInput | None
    snapshot: Snapshot | None
    command: str = ""
    notes: tuple[str, ...] = field(default=())


def without_missing_staging(p: Plan) -> tuple[Plan, int]:
    """The plan with MissingSource actions for absent staging files removed, and the
    blocks they put on other actions lifted: used when the checkout has no staging
    folder at all (CI), where 'file not found' says nothing about the warehouse."""
    gone = {a.key for a in p.actions if isinstance(a, MissingSource)}
    if not gone:
        return p, 0
    kept = tuple(replace(a, blocked_by=tuple(b for b in a.blocked_by if b not in gone))
                 if set(a.blocked_by) & gone else a
                 for a in p.actions if a.key not in gone)
    return replace(p, actions=kept), len(gone)


def gather(spec: str, base_ref: str, snapshot_file: str | None, *, command: str = "") -> CommentInput:
    """Read everything the comment needs: specs (git), staging files, the snapshot."""
    from reconcile.plan.planner import plan as make_plan
    from reconcile.spec.sources import SourceManifest, read_sources

    desired = load_spec(spec)
    head = Side.read(desired)
    base = read_base(spec, base_ref)
    sd = diff(base, head, base_ref=base_ref)
    lr = lint(desired, head.origins, read_sql(desired))
    snap = None
    pin = None
    if snapshot_file:
        snap = Snapshot.load(snapshot_file)
        if snap.project != desired.project:
            raise SpecError(snapshot_file, "project", f"snapshot is of {snap.project!r}, "
                                                      f"spec is {desired.project!r}")
        have_staging = (Path(desired.root) / desired.staging_dir).is_dir()
        sources = read_sources(desired) if have_staging else SourceManifest()
        p = make_plan(desired, snap, sources)
        bp = None
        if base is not None:
            # Staging files are not versioned: the base's loads read them from this checkout.
            base_here = base.desired.model_copy(update={"root": desired.root})
            bp = make_plan(base.desired, snap, read_sources(base_here) if have_staging else SourceManifest())
        missing = 0
        if not have_staging:
            p, missing = without_missing_staging(p)
            if bp is not None:
                bp, _ = without_missing_staging(bp)
        from reconcile.plan import saved

        _, fingerprint = saved.save(p, desired, snap, sources, target=snap.target)
        pin = PlanInput(p, snapshot_file, snap.taken_at, bp, missing, fingerprint)
    return CommentInput(desired.project, sd.spec, base_ref, sd, lr, pin, snap, command)
