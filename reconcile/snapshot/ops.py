"""The snapshot's reads of the tool's own records in the ops dataset: the load ledger and
the key ranges of the files it records, the relocation checkpoints and the temporary
tables the tool made.

`ops_queries` builds their reads (one query each, whatever the number of tables in the
warehouse): the snapshot sends those it needs before it knows which ops tables exist,
and takes a table that does not exist for no rows. `ledger_query` reads the ledger and
its key ranges in one query (the first load creates both tables). The `*_from` functions
turn their rows into snapshot data. Pure: builds SQL text and parses rows; the queries run
in `reconcile.snapshot.read`, through the adapter.
"""

from __future__ import annotations

from typing import Any

from reconcile.bq.sqltext import qtable, render_sql
from reconcile.snapshot.model import (
    CHECKPOINTS_TABLE, KEY_RANGES_TABLE, LEDGER_TABLE, TEMP_TABLES_TABLE, TMP_PREFIX, LedgerEntry, jsonable,
)
from reconcile.snapshot.observe import strip_comments

_READS = (("ledger", LEDGER_TABLE, "snapshot/ledger.sql", "snapshot load ledger"),
          ("key_ranges", KEY_RANGES_TABLE, "snapshot/load_key_ranges.sql", "snapshot load key ranges"),
          ("checkpoints", CHECKPOINTS_TABLE, "snapshot/checkpoints.sql", "snapshot relocation checkpoints"),
          ("temp_tables", TEMP_TABLES_TABLE, "snapshot/temp_tables.sql", "snapshot temporary tables"))
READS = tuple(name for name, _, _, _ in _READS)


def ops_queries(project: str, ops: str, names: tuple[str, ...] = READS) -> list[tuple[str, str, str, str]]:
    """(name, table, sql, what) of the ops reads named (ledger, key_ranges, checkpoints,
    temp_tables), whether or not their table exists: the caller takes a query that fails
    because its table does not exist for no rows."""
    return [(name, table, strip_comments(render_sql(template, table=qtable(project, ops, table))), what)
            for name, table, template, what in _READS if name in names]


def ledger_query(project: str, ops: str) -> tuple[str, str]:
    """(sql, what) of the one read of the load ledger and its key ranges (rows of kind
    'ledger', then of kind 'range'; split them with `ledger_rows`)."""
    sql = render_sql("snapshot/ledger_ranges.sql", ledger=qtable(project, ops, LEDGER_TABLE),
                     ranges=qtable(project, ops, KEY_RANGES_TABLE))
    return strip_comments(sql), "snapshot load ledger and key ranges"


def ledger_rows(rows: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(ledger rows, key range rows) of `ledger_query`'s answer, each in its own order."""
    return [r for r in rows if r["kind"] == "ledger"], [r for r in rows if r["kind"] == "range"]


def _int(v: Any) -> int | None:
    return None if v is None else int(v)


def ledger_from(rows: list[dict[str, Any]], key_ranges: list[dict[str, Any]] = ()) -> list[LedgerEntry]:
    """Ledger rows as entries, each with the latest key range recorded for its file
    (table, source, content hash); None where none was (loads made before ranges were)."""
    ranges = {(r["table_ref"], r["source"], r["content_hash"]): r for r in key_ranges}  # latest last
    out = []
    for r in rows:
        k = ranges.get((r["table_ref"], r["source"], r["content_hash"]), {})
        out.append(LedgerEntry(table=r["table_ref"] or "", source=r["source"] or "",
                               content_hash=r["content_hash"] or "", rows=int(r["rows"] or 0),
                               loaded_at=jsonable(r["loaded_at"]), run_id=r["run_id"],
                               key_column=k.get("key_column"), key_min=k.get("key_min"),
                               key_max=k.get("key_max"), key_rows=_int(k.get("key_rows"))))
    return out


def checkpoints_from(rows: list[dict[str, Any]]) -> dict[str, str]:
    return {r["dataset"]: r["step"] for r in rows if r.get("dataset") is not None and r.get("step") is not None}


def own_temp_tables(rows: list[dict[str, Any]], created: dict[str, int | None]) -> list[str]:
    """The tables under a temporary-table name that the records say this tool made: same
    name and same creation time (`created`: ref -> creation ms, from TABLES)."""
    made = {(r.get("table_ref"), _int(r.get("created_ms"))) for r in rows}
    return sorted(ref for ref, ms in created.items()
                  if ref.split(".", 1)[1].startswith(TMP_PREFIX) and ms is not None and (ref, ms) in made)
