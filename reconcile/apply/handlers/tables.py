"""Handlers for tables and views: create a table (from its DDL or its columns), add
compatible columns (ALTER TABLE ... ADD COLUMN, which works on BigQuery and the
emulator), create or replace a view whose definition differs."""

from __future__ import annotations

import re

from reconcile import identifiers as ids
from reconcile.apply.context import Context, sql
from reconcile.apply.handlers.base import HANDLERS
from reconcile.apply.results import ActionFailed, Done, done, noop
from reconcile.bq.sqltext import QuotedIdent, qcol
from reconcile.plan.actions import AddColumns, CreateTable, CreateView
from reconcile.plan.compare.views import normalize_view_sql
from reconcile.spec.model import canonical_type, is_bigquery_type

# An ARRAY<...> or STRUCT<...> type as text: type names, field names, <, >, commas, spaces.
_NESTED_TYPE = re.compile(r"(ARRAY|STRUCT)<[A-Za-z0-9_<>, ]+>")


def column_type(type_: str, mode: str) -> str:
    """A column's type as DDL text, checked (never an unchecked string in SQL): a type
    BigQuery knows; REPEATED as ARRAY<type>. Added columns are never REQUIRED (BigQuery
    refuses it), so a REQUIRED mode is refused here before any statement."""
    t = canonical_type(type_)
    if not is_bigquery_type(t) or (t.startswith(("ARRAY<", "STRUCT<")) and not _NESTED_TYPE.fullmatch(t)):
        raise ActionFailed(f"column type {type_!a} is not a BigQuery type")
    if mode == "REQUIRED":
        raise ActionFailed("a REQUIRED column cannot be added to an existing table")
    return f"ARRAY<{t}>" if mode == "REPEATED" else t


@HANDLERS.register(CreateTable)
def create_table(ctx: Context, a: CreateTable) -> Done:
    loc = ctx.table_location(a.table)
    if ctx.adapter.table_exists(a.table):
        return noop("exists")
    if a.ddl_file:
        stmt = ctx.d.ddl_statements.get(a.table)
        if not stmt:
            raise ActionFailed(f"no DDL statement for {a.table} in {a.ddl_file}")
        ctx.adapter.execute(stmt, location=loc, what=f"DDL for {a.table}")
        how = f"from {a.ddl_file}"
    else:
        ctx.adapter.create_table(a.table, a.columns, partition_by=a.partition_by,
                                 partition_granularity=a.partition_granularity,
                                 cluster_by=a.cluster_by, description=a.description,
                                 labels=dict(a.labels) or None,
                                 column_descriptions=dict(a.column_descriptions) or None)
        how = f"{len(a.columns)} columns"
    if not ctx.adapter.table_exists(a.table):
        raise ActionFailed(f"the statement ran but {a.table} does not exist")
    return done(f"created ({how})", location=loc)


@HANDLERS.register(AddColumns)
def add_columns(ctx: Context, a: AddColumns) -> Done:
    ctx.table_location(a.table)
    schema = ctx.adapter.get_schema(a.table)
    if schema is None:
        raise ActionFailed(f"{a.table} does not exist")
    have = {f.name.lower() for f in schema}
    missing = [c for c in a.columns if c[0].lower() not in have]
    if not missing:
        return noop("columns present")
    loc = ctx.table_location(a.table)
    for n, t, m in missing:
        # ALTER TABLE ... ADD COLUMN changes the data on BigQuery and on the emulator; the
        # API's schema update (update_table) changes only the emulator's metadata, and the
        # next MERGE failed "does not have a column named ..." (docs/emulator.md).
        ctx.adapter.execute(sql("apply/add_column.sql", table=ctx.q(a.table), column=qcol(n),
                                type=QuotedIdent(column_type(t, m))), location=loc,
                            what=f"add column {n} to {a.table}")
    after = {f.name.lower() for f in ctx.adapter.get_schema(a.table) or []}
    if any(n.lower() not in after for n, _, _ in missing):
        # The emulator's metadata does not follow its ALTER TABLE: bring it in line (on
        # BigQuery the ALTER already did, and nothing is left to add).
        ctx.adapter.add_columns(a.table, [c for c in missing if c[0].lower() not in after])
    return done(f"added {', '.join(f'{n} {t}' for n, t, _ in missing)}",
                columns=[n for n, _, _ in missing])


@HANDLERS.register(CreateView)
def create_view(ctx: Context, a: CreateView) -> Done:
    body = ctx.d.view_sql.get(a.view)
    if not body:
        raise ActionFailed(f"no SQL for view {a.view} ({a.sql_file})")
    ds, t = ids.split_table_ref(a.view)
    loc = ctx.need_dataset(ds)
    live = dict(ctx.adapter.list_tables(ds)).get(t)
    if live is not None and live != "VIEW":
        raise ActionFailed(f"{a.view} exists as a {live}: not replacing data with a view")
    if live == "VIEW":
        current = ctx.adapter.view_definitions(ds, location=loc).get(t)
        if current is not None and normalize_view_sql(current) == normalize_view_sql(body):
            return noop("view exists with this definition")
    ctx.adapter.execute(sql("apply/create_view.sql", view=ctx.q(a.view), body=QuotedIdent(body)),
                        location=loc, what=f"view {a.view}")
    return done(("replaced" if live else "created") + f" from {a.sql_file}")
