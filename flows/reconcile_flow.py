"""Prefect flows that change the warehouse: `reconcile` and the single-flow runs.

`reconcile` plans the whole difference and applies it. The single-flow runs
(`create`, `load`, `migrate`, `archive`, `relocate`, `validate`, `transforms`) run
the same pipeline (`flows.pipeline.run_pipeline`, the apply session) restricted to
their action kinds (`reconcile.apply.session.Scope`): one implementation, several
entry points.

Each flow ends Completed only when what it is responsible for has converged, and
Failed with the reason otherwise (`reconcile.apply.session.Applied`). Parameters are
plain JSON values, so deployments and `prefect deployment run --param` can set them.
"""

from __future__ import annotations

from prefect import flow

from flows.params import Target, documented
from flows.pipeline import DEFAULT_SPEC, run_pipeline
from reconcile.plan.actions import (
    Action, AddColumns, ArchiveDataset, BackupTable, CreateDataset, CreateTable, CreateView,
    ExpectationFailed, FlagRecreate, FlagSchemaConflict, MergeLoad, MigrateTable, MissingSource,
    RefuseLoad, RelocateDataset, RunTransform, Validate,
)

# The action kinds each single-flow run is restricted to (classes, so a renamed kind
# fails at import). Diagnostics of the same phase come along, so a run can say why it
# did not act (a missing source, a wrong-region dataset waiting for approval, a failed
# expectation).
KINDS: dict[str, tuple[type[Action], ...]] = {
    "create": (CreateDataset, CreateTable, AddColumns, CreateView, FlagSchemaConflict),
    "load": (MergeLoad, RefuseLoad, MissingSource),
    "migrate": (BackupTable, MigrateTable),
    "archive": (ArchiveDataset,),
    "relocate": (RelocateDataset, FlagRecreate),
    "validate": (Validate, ExpectationFailed),
    "transforms": (RunTransform,),
}


@flow(name="reconcile", log_prints=True)
@documented
def reconcile(spec: str = DEFAULT_SPEC, target: Target = "local", dry_run: bool = False,
              allow_destructive: tuple[str, ...] = (), approvals: tuple[str, ...] = (),
              only: tuple[str, ...] = (), wait_seconds: float = 60.0,
              approval_timeout_seconds: int = 3600):
    """Plan the difference between the spec and the warehouse, apply it, check it converged."""
    return run_pipeline(flow_key="reconcile", title="Reconcile", spec=spec, target=target,
                        dry_run=dry_run, allow_destructive=allow_destructive,
                        approvals=approvals or [], only=only or [], wait_seconds=wait_seconds,
                        approval_timeout=approval_timeout_seconds)


def _single(name: str, title: str, *, spec: str, target: str, dry_run: bool,
            allow_destructive: tuple[str, ...] = (), approvals: tuple[str, ...] = (),
            only: tuple[str, ...] = (), wait_seconds: float = 60.0):
    return run_pipeline(flow_key=name, title=title, spec=spec, target=target, dry_run=dry_run,
                        allow_destructive=allow_destructive, approvals=approvals or [],
                        only=only or [], kinds=[k.__name__ for k in KINDS[name]],
                        wait_seconds=wait_seconds)


@flow(name="create", log_prints=True)
@documented
def create(spec: str = DEFAULT_SPEC, target: Target = "local", dry_run: bool = False,
           only: tuple[str, ...] = (), wait_seconds: float = 60.0):
    """Create missing datasets, tables and views; add compatible columns."""
    return _single("create", "Create datasets and tables", spec=spec, target=target, dry_run=dry_run,
                   only=only, wait_seconds=wait_seconds)


@flow(name="load", log_prints=True)
@documented
def load(spec: str = DEFAULT_SPEC, target: Target = "local", dry_run: bool = False,
         only: tuple[str, ...] = (), wait_seconds: float = 60.0):
    """Merge staging files not yet in the load ledger (temporary table + MERGE on keys)."""
    return _single("load", "Load staging", spec=spec, target=target, dry_run=dry_run, only=only,
                   wait_seconds=wait_seconds)


@flow(name="migrate", log_prints=True)
@documented
def migrate(spec: str = DEFAULT_SPEC, target: Target = "local", dry_run: bool = False,
            allow_destructive: tuple[str, ...] = (), only: tuple[str, ...] = (),
            wait_seconds: float = 60.0):
    """Back up, then copy legacy tables to their new names; verify exact row counts."""
    return _single("migrate", "Migrate legacy tables", spec=spec, target=target, dry_run=dry_run,
                   allow_destructive=allow_destructive, only=only, wait_seconds=wait_seconds)


@flow(name="archive", log_prints=True)
@documented
def archive(spec: str = DEFAULT_SPEC, target: Target = "local", dry_run: bool = False,
            allow_destructive: tuple[str, ...] = (), only: tuple[str, ...] = (),
            wait_seconds: float = 60.0):
    """Copy backup datasets into the archive dataset (sources deleted only if allowed)."""
    return _single("archive", "Archive backups", spec=spec, target=target, dry_run=dry_run,
                   allow_destructive=allow_destructive, only=only, wait_seconds=wait_seconds)


@flow(name="relocate", log_prints=True)
@documented
def relocate(approvals: tuple[str, ...], spec: str = DEFAULT_SPEC, target: Target = "local",
             dry_run: bool = False, wait_seconds: float = 60.0):
    """Recreate the approved wrong-region datasets in their declared region, data carried over."""
    return _single("relocate", "Relocate datasets", spec=spec, target=target, dry_run=dry_run,
                   approvals=approvals, only=list(approvals), wait_seconds=wait_seconds)


@flow(name="validate", log_prints=True)
@documented
def validate(spec: str = DEFAULT_SPEC, target: Target = "local", only: tuple[str, ...] = (),
             wait_seconds: float = 60.0):
    """Re-check the data expectations (gates) of tables that changed or are new."""
    return _single("validate", "Validate", spec=spec, target=target, dry_run=False, only=only,
                   wait_seconds=wait_seconds)


@flow(name="transforms", log_prints=True)
@documented
def transforms(spec: str = DEFAULT_SPEC, target: Target = "local", dry_run: bool = False,
               only: tuple[str, ...] = (), wait_seconds: float = 60.0):
    """Run the transforms the plan calls for (outputs missing, inputs changed, a fix due)."""
    return _single("transforms", "Transforms", spec=spec, target=target, dry_run=dry_run, only=only,
                   wait_seconds=wait_seconds)
