"""The MergeLoad handler: a staging file merged into its table on the declared keys.

file -> temporary table (load job) -> exact count -> one MERGE -> ledger row. Never
WRITE_TRUNCATE: rows already in the table are updated or kept, never dropped. The file
must still have the bytes the gate passed (its content hash), and a file already in the
load ledger is not merged again unless the plan says the table lost its rows
(`MergeLoad.reload`): the ledger is asked before a MERGE, where an old file merged again
would put older values back over newer ones. Beside its ledger row,
`<ops>.load_key_ranges` keeps the file's first-key range (`load_key_range`), by which the
next snapshot sees such a loss. The temporary table is the tool's only while ops records
it (`_make_tmp`). The file is read once, into a private copy: the hash is of it and the
load job sends it. Into an empty table whose columns are the file's, the load job writes
the table itself with WRITE_EMPTY (BigQuery refuses it if rows appeared meanwhile, and the
MERGE path runs instead): one job instead of a load, a MERGE and three counts. That path
sends no count and no ledger lookup: the table's own resource (the one get that also gives
its schema) says it looks empty, WRITE_EMPTY makes sure, and the job's output rows are the
rows the table then holds, the file's rows once, whatever the ledger says (`merge_load`
says why that is safe); the file's key range is recorded while it uploads, its ledger row
once the job is done.
"""

from __future__ import annotations

import concurrent.futures as cf
import hashlib
import logging
from pathlib import Path

from reconcile import identifiers as ids
from reconcile.apply.context import EXECUTOR_LOG, Context, pause, sql
from reconcile.apply.handlers.base import HANDLERS
from reconcile.apply.results import ActionFailed, Done, done, noop
from reconcile.bq.sqltext import QuotedIdent, qcol, qtable
from reconcile.plan.actions import MergeLoad
from reconcile.bq.adapter import BigQueryError
from reconcile.plan.names import TMP_PREFIX
from reconcile.spec.sources import bytes_hash, private_copy

log = logging.getLogger(EXECUTOR_LOG)

# Temporary load tables are dropped at once; the expiry only cleans up after a crash
# (on BigQuery: the emulator ignores table expirations, see docs/emulator.md).
TMP_EXPIRY_MS = 24 * 3600 * 1000
# Names tried for one load's temporary table when the first ones are taken by tables
# this tool did not make (left alone, DESIGN.md "Ownership").
TMP_ALTERNATES = 9


def tmp_table_for(a: MergeLoad) -> str:
    """The temporary table of one load: fixed per (table, file path), so a rerun finds
    a leftover of its own crashed run (recorded in ops) and drops it before loading again."""
    ds = a.table.split(".", 1)[0]
    digest = hashlib.sha256(f"{a.table}<-{a.source}".encode()).hexdigest()[:8]
    return f"{ds}.{TMP_PREFIX}{digest}"


def _make_tmp(ctx: Context, a: MergeLoad) -> str:
    """Create this load's temporary table and record it in ops (with its creation time).

    A table already under the name is dropped only if ops records that this tool made it
    (same name, same creation time): a leftover of a crashed run, whose rows would be
    merged twice. Any other table there is someone else's: left alone (the planner lists
    it, exit 3), and the load goes through the next name (`<name>_1`, ...)."""
    base = tmp_table_for(a)
    for tmp in [base] + [f"{base}_{i}" for i in range(1, TMP_ALTERNATES + 1)]:
        created = ctx.adapter.table_created_ms(tmp)
        if created is not None:
            if not ctx.temp_is_ours(tmp, created):
                log.warning("%s: %s exists and no ops record says this tool made it: left alone, "
                            "loading through another name", a.key, tmp)
                continue
            ctx.adapter.delete_table(tmp)  # our crashed run's leftover: its rows would be merged twice
        if not ctx.adapter.create_table(tmp, [(c, t, "NULLABLE") for c, t in a.columns],
                                        description=f"reconcile: temporary load of {a.source} (run {ctx.run_id})",
                                        expires_ms=TMP_EXPIRY_MS):
            continue  # made by someone else since the look: never ours
        made = ctx.adapter.table_created_ms(tmp)
        if made is None:
            raise ActionFailed(f"{tmp} vanished right after it was created: table untouched")
        ctx.record_temp(tmp, made)
        return tmp
    raise ActionFailed(f"every temporary-table name of this load ({base}, {base}_1 .. _{TMP_ALTERNATES}) "
                       "is taken by a table this tool did not make: move or delete them by hand; "
                       "table untouched")


def merge_sql(ctx_project: str, a: MergeLoad, tmp: str, prune: str | None = None) -> str:
    """The one MERGE of a load, from the file's columns and the declared keys.

    `prune`: the target's partitioning column, itself a key: the ON clause then also bounds
    the target to the file's range of it (@prune_lo..@prune_hi, `prune_range`), so BigQuery
    reads only the partitions the file can match, not the whole table
    (https://cloud.google.com/bigquery/docs/querying-partitioned-tables#pruning_limiting_partitions).
    Every file row lies in that range and matches only a target row with the same key, so
    the result is the same MERGE's."""
    cols = [c for c, _ in a.columns]
    keys = list(a.keys)
    others = [c for c in cols if c not in keys]
    tds, tt = ids.split_table_ref(a.table)
    sds, st = ids.split_table_ref(tmp)

    def qi(text: str) -> QuotedIdent:
        return QuotedIdent(text)

    idents = dict(
        target=qtable(ctx_project, tds, tt),
        source=qtable(ctx_project, sds, st),
        on=qi(" AND ".join([f"T.{qcol(k)} = S.{qcol(k)}" for k in keys]
                           + ([f"T.{qcol(prune)} BETWEEN @prune_lo AND @prune_hi"] if prune else []))),
        columns=qi(", ".join(qcol(c) for c in cols)),
        values=qi(", ".join(f"S.{qcol(c)}" for c in cols)),
    )
    if not others:
        return sql("apply/merge_insert_only.sql", **idents)
    return sql(
        "apply/merge.sql", **idents,
        changed=qi(" OR ".join(f"T.{qcol(c)} IS DISTINCT FROM S.{qcol(c)}" for c in others)),
        assignments=qi(", ".join(f"{qcol(c)} = S.{qcol(c)}" for c in others)),
    )


def _load_file(ctx: Context, path: Path, raw: bytes, table: str, dest: str, location: str, *,
               write_empty: bool = False, digest: str | None = None) -> int:
    """The private copy `raw` of a staging file into `dest` with a load job; returns the
    rows the job wrote. A CSV seed is typed by the table's declared columns, exactly as
    the gate read it, and sent as Parquet: one load path, no type guessing on either side."""
    if path.suffix.lower() != ".csv":
        # `digest`: the sha256 of `raw` the handler computed; the job id needs it, and
        # hashing the file a second time for it cost as much as the first.
        return ctx.adapter.load_parquet(path, dest, location=location, data=raw, write_empty=write_empty,
                                        digest=digest)
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq

    from reconcile.spec.sources import read_csv

    data = read_csv(pa.BufferReader(raw), ctx.d.columns_of(table) or [])
    buf = io.BytesIO()
    pq.write_table(data, buf)
    return ctx.adapter.load_parquet(path.with_suffix(".parquet"), dest, location=location,
                                    data=buf.getvalue(), write_empty=write_empty)


def _value_text(v) -> str:
    """A key value as the ledger keeps it: a string BigQuery CASTs back to the column's type."""
    import datetime as dt

    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, dt.datetime):
        return v.isoformat(sep=" ")
    if isinstance(v, float):
        return repr(v)
    return v.isoformat() if hasattr(v, "isoformat") else str(v)


def _file_min_max(ctx: Context, a: MergeLoad, path: Path, raw: bytes, column: str):
    """(min, max, rows with a value) of one column of the private copy that is loaded, or
    None when the column has no usable range (a CSV seed read as the gate read it)."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    try:
        if path.suffix.lower() == ".csv":
            from reconcile.spec.sources import read_csv

            col = read_csv(pa.BufferReader(raw), ctx.d.columns_of(a.table) or []).column(column)
        else:
            col = pq.read_table(pa.BufferReader(raw), columns=[column]).column(column)
        mm = pc.min_max(col).as_py()
    except (KeyError, pa.ArrowException) as e:
        log.info("%s: no range of %s in the file (%s)", a.key, column, e)
        return None
    if mm["min"] is None or mm["max"] is None:
        return None
    return mm["min"], mm["max"], len(col) - col.null_count


def load_key_range(ctx: Context, a: MergeLoad, path: Path, raw: bytes) -> dict:
    """The ledger's key columns of this load: the file's first key column, its min and
    max, and the file's rows with a key there (reconcile.snapshot.loadchecks). Read from
    the same private copy that is loaded; {} when the column has no usable range."""
    key = a.keys[0]
    got = _file_min_max(ctx, a, path, raw, key)
    if got is None:
        return {}
    lo, hi, n = got
    return {"key_column": key, "key_min": _value_text(lo), "key_max": _value_text(hi), "key_rows": n}


def prune_range(ctx: Context, a: MergeLoad, path: Path, raw: bytes) -> tuple[str, list] | None:
    """(partition column, [@prune_lo, @prune_hi] parameters) when the target is partitioned by
    one of the load's keys and the file has a range of it; else None (the MERGE reads the
    whole target). From the same private copy that is loaded."""
    from reconcile.bq.adapter import param

    spec = ctx.d.tables.get(a.table)
    col = spec.partition_by if spec is not None else None
    if col is None or col not in a.keys:
        return None
    got = _file_min_max(ctx, a, path, raw, col)
    if got is None:
        return None
    return col, [param("prune_lo", got[0]), param("prune_hi", got[1])]


def check_keys_unique(ctx: Context, a: MergeLoad, loc: str) -> None:
    """The load's keys-unique gate on the target table, after its MERGE (issue 13, "Gates
    on tables"): the file passed it, but the table may hold duplicates the MERGE kept
    (rows added between plan and apply). A violation fails the action as a gate (exit 3),
    naming the keys, before the ledger row: the next plan merges again and its load check
    blocks it, naming them too."""
    keys = QuotedIdent(", ".join(qcol(k) for k in a.keys))
    rows = ctx.adapter.query(sql("apply/duplicate_keys.sql", keys=keys, table=ctx.q(a.table)),
                             location=loc, what=f"keys unique on {a.table}")
    if not rows:
        return
    total = int(rows[0]["_reconcile_keys"])
    named = [", ".join(f"{k}={r[k]}" for k in a.keys) for r in rows]
    shown = "; ".join(f"({key}): {int(r['_reconcile_rows'])} rows" for key, r in zip(named, rows))
    raise ActionFailed(
        f"gate failed after the MERGE: {a.table} holds {total:,} key(s) on ({', '.join(a.keys)}) in more "
        f"than one row: {shown}{' ...' if total > len(rows) else ''}. Not recorded in the ledger: "
        "remove the duplicates by hand, then re-plan",
        {"gate": "keys unique", "duplicated_keys": total,
         "examples": {key: int(r["_reconcile_rows"]) for key, r in zip(named, rows)}})


def _record_range(ctx: Context, a: MergeLoad, path: Path, raw: bytes) -> None:
    key_range = load_key_range(ctx, a, path, raw)
    if key_range:
        ctx.record_key_range(a.table, a.source, a.content_hash, key_range)


def _record(ctx: Context, a: MergeLoad, path: Path, raw: bytes, *, inserted: int, updated: int,
            ranged: cf.Future | None = None) -> None:
    """The file's key range, then its ledger row (a crash between them leaves a range and
    no ledger row: the file is merged again, which MERGE makes harmless). `ranged`: the
    range is being recorded already (`merge_load`): waited for, its error raised, before
    the ledger row."""
    if ranged is not None:
        ranged.result()
    else:
        _record_range(ctx, a, path, raw)
    ctx.record_ledger([{"table_ref": a.table, "source": a.source, "content_hash": a.content_hash,
                        "rows": a.rows, "rows_inserted": inserted, "rows_updated": updated}])


def _loads_as_is(ctx: Context, a: MergeLoad, schema=None) -> bool:
    """Whether the file's columns are the table's, in order and type (a load job into the
    table then writes what the MERGE would: the gate has made the keys unique). `schema`:
    the table's, if the caller has read it already."""
    from reconcile.spec.model import canonical_type

    if schema is None:
        schema = ctx.adapter.get_schema(a.table)
    if schema is None:
        return False
    return [(f.name, canonical_type(f.field_type)) for f in schema if f.mode != "REPEATED"] == \
        [(c, canonical_type(t)) for c, t in a.columns] and len(schema) == len(a.columns)


def _looks_empty(table) -> bool | None:
    """Whether the table's resource says it holds no row: `numRows` 0 and no streaming
    buffer (numRows excludes the buffer's rows:
    https://cloud.google.com/bigquery/docs/reference/rest/v2/tables#Table.FIELDS.num_rows).
    None when it does not say. Only a hint (the local BigQuery's numRows lags behind DML,
    BIGQUERY_EMULATOR.md): a wrong "empty" costs a load job that WRITE_EMPTY refuses, then
    the MERGE; a wrong "not empty" costs the MERGE path. Never a wrong result."""
    if getattr(table, "streaming_buffer", None) is not None:
        return False
    n = getattr(table, "num_rows", None)
    return None if n is None else n == 0


def _into_empty(ctx: Context, a: MergeLoad, path: Path, raw: bytes, loc: str, schema=None,
                digest: str | None = None, ranged: cf.Future | None = None) -> Done | None:
    """A MergeLoad into an empty table: one load job into the table itself, WRITE_EMPTY
    (BigQuery refuses it, atomically, if rows appeared meanwhile: then None, and the
    caller merges). Also None when the file's columns are not exactly the table's.

    The table then holds exactly the rows the job wrote: it was empty (WRITE_EMPTY) and a
    load job commits all its rows or none. Those are the job's `outputRows`, "number of
    rows imported in a load job", final once the job is done
    (https://cloud.google.com/bigquery/docs/reference/rest/v2/Job#JobStatistics3): the
    proof against the file's rows needs no COUNT query. `schema`: the table's, if read
    already; `digest`: the sha256 of `raw`, if computed already; `ranged`: the file's key
    range, being recorded while the file loads (`_record`)."""
    if not _loads_as_is(ctx, a, schema):
        return None
    try:
        written = _load_file(ctx, path, raw, a.table, a.table, loc, write_empty=True, digest=digest)
    except BigQueryError as e:
        log.info("%s: load into the empty table refused (%s): merging instead", a.key, e)
        return None
    if written != a.rows:  # a load job is atomic: this is not expected; say it plainly
        raise ActionFailed(f"loaded {written:,} rows into the empty {a.table}, the file has {a.rows:,}",
                           {"loaded_rows": written, "file_rows": a.rows})
    pause("merge:merged")
    _record(ctx, a, path, raw, inserted=written, updated=0, ranged=ranged)
    return done(f"loaded {a.rows:,} file rows into the empty table in one load job (WRITE_EMPTY); "
                f"table 0 -> {written:,} rows",
                file_rows=a.rows, rows_before=0, rows_after=written, inserted=written, updated=0)


@HANDLERS.register(MergeLoad)
def merge_load(ctx: Context, a: MergeLoad) -> Done:
    """One MergeLoad. Into an empty table (the fast path) it sends the table's get, the
    load (WRITE_EMPTY), the key-range INSERT while the file uploads, then the ledger
    INSERT; the run's record follows when the run ends (reconcile.apply.records). What a
    crash leaves, and how the next run converges from it:

    - before the load job commits: the table is empty (a load commits all or nothing),
      perhaps a key range with no ledger row (read by nothing); the file is planned again
      and loaded the same way;
    - after the load, before the ledger row: the table holds the file's rows once, with
      no ledger row; the file is planned again, WRITE_EMPTY refuses the table that now
      has rows, the ledger (asked on that path) does not have it, and the MERGE on the
      keys changes nothing; then its range and ledger row are written;
    - after the ledger row: the file is loaded and recorded; only the run's record is
      missing (as for any run killed before its end).
    """
    path = ctx.d.path(a.source)
    if not path.is_file():
        raise ActionFailed(f"{a.source} is gone since the plan: table untouched")
    # One private copy of the file: hashed here, loaded from below. The gate passed on
    # bytes of this hash: anything else is a different file, and a file changed on disk
    # after this read is not what is loaded.
    try:
        raw = private_copy(path)
    except OSError as e:
        raise ActionFailed(f"{a.source}: cannot read: {e}: table untouched") from None
    now_hash = bytes_hash(raw)
    if now_hash != a.content_hash:
        raise ActionFailed(f"{a.source} changed since the plan (hash {now_hash[:12]}, planned "
                           f"{a.content_hash[:12]}): re-plan; table untouched",
                           {"content_hash": now_hash, "planned_hash": a.content_hash})
    table = ctx.adapter.get_table(a.table)  # one get: exists, schema, location, whether it looks empty
    if table is None:
        ctx.table_location(a.table)  # a missing dataset is named as such
        raise ActionFailed(f"{a.table} does not exist")
    # The table's location comes with its resource ("inherited from the dataset":
    # https://cloud.google.com/bigquery/docs/reference/rest/v2/tables#Table.FIELDS.location).
    # The local BigQuery's resource does not say (and it runs every job anywhere): there
    # the location the adapter has seen for the dataset (its lists and gets) is used.
    loc = (getattr(table, "location", None) or ctx.adapter.location_of(a.table.split(".", 1)[0])
           or ctx.table_location(a.table))
    empty = _looks_empty(table)
    if empty is None:  # the resource does not say: count
        empty = ctx.count(a.table) == 0
    ranged: cf.Future | None = None
    if empty and _loads_as_is(ctx, a, list(table.schema)):
        # The file's key range is recorded while the file uploads, in a thread of its own:
        # one INSERT job off the load's path. Recorded before the ledger row either way,
        # as before; a range with no ledger row (the load refused or failed, a crash) is
        # what a crash between the two always left, and the snapshot reads a range only
        # beside its ledger row (snapshot.ops.ledger_from). A refused load goes on to the
        # MERGE below, which waits for this same range instead of recording it again.
        with cf.ThreadPoolExecutor(max_workers=1, thread_name_prefix="key-range") as pool:
            ranged = pool.submit(_record_range, ctx, a, path, raw)
            fast = _into_empty(ctx, a, path, raw, loc, list(table.schema), digest=now_hash, ranged=ranged)
        if fast is not None:
            return fast
    # The ledger is asked only before a MERGE, where a file merged again (a stale plan)
    # would put older values back over newer rows. WRITE_EMPTY above has none to put back:
    # a file the ledger has landing there (its rows deleted since) is what the next plan
    # would reload (plan.compare.loads), its second ledger row a reload's. A reload merges
    # again whatever the ledger says: MERGE on the keys leaves what is still there as it is.
    if not a.reload and ctx.ledger_has(a.table, a.source, a.content_hash):
        # (A range recorded while a refused WRITE_EMPTY load ran is then a second copy of
        # the range beside this ledger row: the same file, the same range.)
        return noop("this file (same content hash) is already in the load ledger")
    tmp = _make_tmp(ctx, a)
    try:
        _load_file(ctx, path, raw, a.table, tmp, loc, digest=now_hash)
        staged = ctx.count(tmp)
        if staged != a.rows:
            raise ActionFailed(f"loaded {staged:,} rows into {tmp}, the file has {a.rows:,}: table untouched",
                               {"staged_rows": staged, "file_rows": a.rows})
        before = ctx.count(a.table)
        pruned = prune_range(ctx, a, path, raw)
        stats = ctx.adapter.run_dml(merge_sql(ctx.adapter.project, a, tmp, pruned[0] if pruned else None),
                                    location=loc, what=f"MERGE into {a.table}",
                                    params=pruned[1] if pruned else ())
        pause("merge:merged")
        after = ctx.count(a.table)
    finally:
        ctx.adapter.delete_table(tmp)
    check_keys_unique(ctx, a, loc)
    inserted = stats.inserted if stats.inserted is not None else after - before
    updated = stats.updated if stats.updated is not None else stats.affected - inserted
    _record(ctx, a, path, raw, inserted=inserted, updated=updated, ranged=ranged)
    return done(f"merged {a.rows:,} file rows on ({', '.join(a.keys)}): {inserted:,} inserted, "
                f"{updated:,} updated; table {before:,} -> {after:,} rows",
                file_rows=a.rows, rows_before=before, rows_after=after, inserted=inserted,
                updated=updated)
