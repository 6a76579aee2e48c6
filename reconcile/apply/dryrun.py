"""Dry run: what each acting action would do, described with no request sent.

`DESCRIBERS` holds one function per acting action class, `fn(action, desired, project)
-> (detail, observed)`; the run calls it instead of the handler when `dry_run` is set.
Report-only kinds need none: a dry run reports them as 'skipped', as a real run does.
Pure: no adapter, no clock.
"""

from __future__ import annotations

from typing import Any, Callable

from reconcile.apply.context import LEDGER_TABLE
from reconcile.apply.handlers.loads import merge_sql, tmp_table_for
from reconcile.apply.handlers.migrations import BACKUP_EXPIRY_DAYS
from reconcile.apply.relocation import remaining_steps
from reconcile.plan.actions import (
    AddColumns, ArchiveDataset, BackupTable, CreateDataset, CreateTable, CreateView, MergeLoad, MigrateTable,
    RelocateDataset, RunTransform, Validate,
)
from reconcile.plan.names import RELOCATION_SUFFIX
from reconcile.plan.registry import ActionRegistry, acting_kinds
from reconcile.spec.model import DesiredState

Describer = Callable[[Any, DesiredState, str], tuple[str, dict]]

DESCRIBERS: ActionRegistry[Describer] = ActionRegistry("dry-run descriptions", acting_kinds())


@DESCRIBERS.register(CreateDataset)
def _create_dataset(a: CreateDataset, desired: DesiredState, project: str) -> tuple[str, dict]:
    return f"would create dataset {a.name} in {a.location}", {}


@DESCRIBERS.register(RelocateDataset)
def _relocate_dataset(a: RelocateDataset, desired: DesiredState, project: str) -> tuple[str, dict]:
    if a.strategy == "replica":
        left = [step for step in remaining_steps(a.resume_step, "replica") if step != "done"]
        stmts = dict(a.statements)
        found = "(DROP REPLICA of the old replica, found when it runs)"
        return (f"would relocate {a.name} to {a.to_location} by dataset replication: {', '.join(left)}",
                {"steps": left, "sql": [stmts.get(step, found) for step in left]})
    steps = remaining_steps(a.resume_step)
    return (f"would relocate {a.name} ({len(a.table_names)} tables, {a.rows:,} rows) to "
            f"{a.to_location} through {a.name}{RELOCATION_SUFFIX}: {', '.join(steps)}", {"steps": list(steps)})


@DESCRIBERS.register(CreateTable)
def _create_table(a: CreateTable, desired: DesiredState, project: str) -> tuple[str, dict]:
    if a.ddl_file:
        return f"would run the CREATE TABLE for {a.table} from {a.ddl_file}", \
            {"sql": desired.ddl_statements.get(a.table, "")}
    extra = (f", partitioned by {a.partition_by}" if a.partition_by else "") + \
            (f", clustered by {', '.join(a.cluster_by)}" if a.cluster_by else "")
    return f"would create {a.table} with {len(a.columns)} columns{extra}", {}


@DESCRIBERS.register(AddColumns)
def _add_columns(a: AddColumns, desired: DesiredState, project: str) -> tuple[str, dict]:
    return f"would add {', '.join(f'{n} {t}' for n, t, _ in a.columns)} to {a.table}", {}


@DESCRIBERS.register(CreateView)
def _create_view(a: CreateView, desired: DesiredState, project: str) -> tuple[str, dict]:
    return f"would {'replace' if a.replace else 'create'} view {a.view} from {a.sql_file}", \
        {"sql": desired.view_sql.get(a.view, "")}


@DESCRIBERS.register(MergeLoad)
def _merge_load(a: MergeLoad, desired: DesiredState, project: str) -> tuple[str, dict]:
    tmp = tmp_table_for(a)
    return (f"would load {a.source} ({a.rows:,} rows) into {tmp}, MERGE it into {a.table} on "
            f"({', '.join(a.keys)}), record it in {desired.ops_dataset}.{LEDGER_TABLE}, drop {tmp}",
            {"sql": merge_sql(project, a, tmp)})


# The rest say what they would do in one sentence, from the action alone.
_SENTENCES: dict[type, Callable[[Any], str]] = {
    BackupTable: lambda a: (f"would back up {a.source} ({a.rows:,} rows) to {a.backup}, expiring in "
                            f"{BACKUP_EXPIRY_DAYS} days"),
    MigrateTable: lambda a: (f"would copy {a.source} ({a.rows:,} rows) to {a.destination}"
                             + (f", replacing its {a.replace_rows:,} rows" if a.replace_rows is not None else "")
                             + " and verify counts"),
    ArchiveDataset: lambda a: (f"would copy {len(a.tables)} table(s) of {a.name} to {a.archive}"
                               + (", then delete it" if a.delete_source and not a.keep else ", keeping the source")),
    RunTransform: lambda a: f"would run {a.sql_file} ({a.reason}) -> {', '.join(a.outputs)}",
    Validate: lambda a: f"would check {a.table}: {', '.join(a.checks)}",
}
for _cls, _sentence in _SENTENCES.items():
    DESCRIBERS.register(_cls)(lambda a, desired, project, _s=_sentence: (_s(a), {}))


DESCRIBERS.verify()


def describe(a: Any, desired: DesiredState, project: str) -> tuple[str, dict]:
    """(detail, observed) of what `a` would do; UnknownAction for a kind with no describer."""
    return DESCRIBERS[a](a, desired, project)
