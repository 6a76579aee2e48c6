"""Proof that one table is a whole copy of another, before anything relies on it.

A row count alone is no proof: two tables with the same count can hold other rows and
other columns (an archive-name collision, a hand copy). A copy is proven when its schema
(column names, types and modes, in order), its exact row count and two order-independent
content checksums (sql/apply/proof.sql) equal the original's. Each table is read in its
own location (a backup across regions lives elsewhere than its source).

Used before a migration runs (its backups), before a replacement deletes, before an
archive source is deleted, and to recognise a table that already is what the spec would
make (adoption). Reads only; never changes the warehouse.
"""

from __future__ import annotations

from dataclasses import dataclass

from reconcile import identifiers as ids
from reconcile.apply.context import Context, sql
from reconcile.snapshot.rounds import run_concurrently
from reconcile.spec.model import canonical_type


@dataclass(frozen=True)
class Fingerprint:
    """What a table is, for comparing it with another: schema, rows, content checksums."""

    schema: tuple[tuple[str, str, str], ...]  # (lower-cased name, canonical type, mode)
    rows: int
    xor_sum: int | None
    mod_sum: int | None


def fingerprint(ctx: Context, ref: str) -> Fingerprint | None:
    """The table's fingerprint (None: it does not exist)."""
    schema = ctx.adapter.get_schema(ref)
    if schema is None:
        return None
    ds, t = ids.split_table_ref(ref)
    row = ctx.adapter.query(sql("apply/proof.sql", table=ctx.q(ref)), location=ctx.table_location(ref),
                            what=f"checksum {ref}")[0]
    cols = tuple((f.name.lower(), canonical_type(f.field_type), f.mode or "NULLABLE") for f in schema)
    return Fingerprint(schema=cols, rows=int(row["n"]),
                       xor_sum=None if row["xor_sum"] is None else int(row["xor_sum"]),
                       mod_sum=None if row["mod_sum"] is None else int(row["mod_sum"]))


def differences(original: Fingerprint, copy: Fingerprint) -> list[str]:
    """How `copy` differs from `original` (empty: the same table)."""
    out = []
    if original.schema != copy.schema:
        a = ", ".join(f"{n} {t}" for n, t, _ in original.schema)
        b = ", ".join(f"{n} {t}" for n, t, _ in copy.schema)
        out.append(f"schema differs ({b} vs {a})")
    if original.rows != copy.rows:
        out.append(f"{copy.rows:,} rows vs {original.rows:,}")
    elif (original.xor_sum, original.mod_sum) != (copy.xor_sum, copy.mod_sum):
        out.append("same row count, other rows (content checksum differs)")
    return out


def unproven(ctx: Context, original: str, copy: str) -> str | None:
    """Why `copy` is not a proven whole copy of `original` (None: it is)."""
    if ctx.parallelism > 1:  # the two reads are independent: at once, in a run with parallelism
        a, b = run_concurrently([lambda: fingerprint(ctx, original), lambda: fingerprint(ctx, copy)], 2)
    else:
        a = fingerprint(ctx, original)
        b = fingerprint(ctx, copy) if a is not None else None
    if a is None:
        return f"{original} does not exist"
    if b is None:
        return f"{copy} does not exist"
    diff = differences(a, b)
    return f"{copy} is not a copy of {original}: {'; '.join(diff)}" if diff else None


def uncarried_objects(ctx: Context, dataset: str) -> list[str]:
    """The routines and models in `dataset` ("ds.name (ROUTINE type)", "ds.name (MODEL)"):
    no table copy carries them, so a dataset holding one is never deleted by the tool.
    Listed through the client's routines.list and models.list (both answer on the emulator).
    https://cloud.google.com/bigquery/docs/reference/rest/v2/routines/list
    https://cloud.google.com/bigquery/docs/reference/rest/v2/models/list"""
    client, ds_id = ctx.adapter.client, f"{ctx.adapter.project}.{dataset}"
    out = [f"{dataset}.{r.routine_id} ({r.type_ or 'ROUTINE'})" for r in client.list_routines(ds_id)]
    out += [f"{dataset}.{m.model_id} (MODEL)" for m in client.list_models(ds_id)]
    return sorted(out)
