"""The source manifest: what each declared staging file holds, read from disk.

For every load in the spec: does the file exist, its schema (as BigQuery
types), its row count (from Parquet metadata), its content hash, and the gate
checks the migration plan asks for before anything is loaded (placeholder
values, null or duplicate keys). Reads local files only; never BigQuery.
"""

from __future__ import annotations

import hashlib
import logging
import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from reconcile.spec.load import resolve_in_root
from reconcile.spec.model import DesiredState, Load, SpecError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SourceFile:
    source: str  # path as written in the spec
    table: str
    exists: bool
    rows: int = 0
    columns: tuple[tuple[str, str], ...] = ()
    content_hash: str = ""
    problems: tuple[str, ...] = ()  # gate failures: placeholders, keys, unreadable
    error: str | None = None  # unreadable file

    def to_dict(self) -> dict:
        return {"source": self.source, "table": self.table, "exists": self.exists,
                "rows": self.rows, "columns": [list(c) for c in self.columns],
                "content_hash": self.content_hash, "problems": list(self.problems),
                "error": self.error}


@dataclass(frozen=True)
class SourceManifest:
    files: tuple[SourceFile, ...] = field(default=())

    def get(self, table: str, source: str) -> SourceFile | None:
        for f in self.files:
            if f.table == table and f.source == source:
                return f
        return None


def arrow_to_bq(t: pa.DataType) -> str:
    if pa.types.is_boolean(t):
        return "BOOL"
    if pa.types.is_integer(t):
        return "INT64"
    if pa.types.is_floating(t):
        return "FLOAT64"
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return "STRING"
    if pa.types.is_binary(t) or pa.types.is_large_binary(t):
        return "BYTES"
    if pa.types.is_date(t):
        return "DATE"
    if pa.types.is_timestamp(t):
        return "TIMESTAMP" if t.tz else "DATETIME"
    if pa.types.is_time(t):
        return "TIME"
    if pa.types.is_decimal(t):
        return "NUMERIC" if t.precision <= 38 and t.scale <= 9 else "BIGNUMERIC"
    return f"UNSUPPORTED({t})"


def file_hash(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _placeholder_hits(table: pa.Table, global_values: list, per_column: dict[str, list]) -> list[str]:
    out = []
    str_globals = [v for v in global_values if isinstance(v, str)]
    for name in table.column_names:
        col = table.column(name)
        values = list(per_column.get(name, []))
        if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
            values = [str(v) for v in values] + str_globals
            if not values:
                continue
            mask = pc.is_in(col, value_set=pa.array(sorted(set(values)), type=pa.string()))
        elif values and (pa.types.is_integer(col.type) or pa.types.is_floating(col.type)):
            nums = [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
            if not nums:
                continue
            mask = pc.is_in(pc.cast(col, pa.float64()), value_set=pa.array([float(v) for v in nums]))
        else:
            continue
        n = pc.sum(pc.cast(pc.fill_null(mask, False), pa.int64())).as_py() or 0
        if n:
            idx = pc.index(pc.fill_null(mask, False), True).as_py()
            found = col[idx].as_py()
            out.append(f"column {name}: {n:,} placeholder value(s), e.g. {found!r} at row {idx + 1}")
    return out


def _key_problems(table: pa.Table, keys: list[str]) -> list[str]:
    missing = [k for k in keys if k not in table.column_names]
    if missing:
        return [f"key column(s) missing from file: {', '.join(missing)}"]
    out = []
    for k in keys:
        nulls = table.column(k).null_count
        if nulls:
            out.append(f"key column {k}: {nulls:,} null value(s)")
        out += _float_key_problems(k, table.column(k))
    if table.num_rows:
        grouped = table.select(keys).group_by(keys).aggregate([([], "count_all")])
        dup = pc.sum(pc.greater(grouped.column("count_all"), 1)).as_py() or 0
        if dup:
            out.append(f"{dup:,} duplicate key(s) on ({', '.join(keys)})")
    return out


def _float_key_problems(name: str, col: pa.ChunkedArray) -> list[str]:
    """NaN and -0.0 in a FLOAT key column: in BigQuery NaN never equals NaN in a MERGE's
    ON clause, so that row is inserted again with each new file, and -0.0 = 0.0 joins
    two spellings of one key (https://cloud.google.com/bigquery/docs/reference/standard-sql/data-types#floating_point_semantics)."""
    if not pa.types.is_floating(col.type):
        return []
    import numpy as np

    values = col.to_numpy(zero_copy_only=False)
    out = []
    nan = int(np.isnan(values).sum()) - col.null_count  # nulls read back as NaN
    if nan > 0:
        out.append(f"key column {name}: {nan:,} NaN value(s) (NaN never matches itself in a MERGE)")
    neg_zero = int(((values == 0) & np.signbit(values)).sum())
    if neg_zero:
        out.append(f"key column {name}: {neg_zero:,} signed zero(s) -0.0 (write 0.0: -0.0 and 0.0 are one key)")
    return out


def overlap_problems(files: list[tuple[Load, pa.Table | None]]) -> dict[int, list[str]]:
    """Loads into one table whose files share keys, without a declared precedence: the
    last to run would win silently and a row flip between files on every run (issue 18).
    {index into `files`: problems}."""
    by_table: dict[str, list[int]] = {}
    for i, (ld, data) in enumerate(files):
        if data is not None and ld.precedence is None:
            by_table.setdefault(ld.table, []).append(i)
    out: dict[int, list[str]] = {}
    for idx in by_table.values():
        for a_pos, a in enumerate(idx):
            for b in idx[a_pos + 1:]:
                la, da = files[a]
                lb, db = files[b]
                keys = list(la.keys)
                if la.keys != lb.keys or not all(k in da.column_names and k in db.column_names for k in keys):
                    continue
                try:
                    shared = da.select(keys).group_by(keys).aggregate([]).join(
                        db.select(keys).group_by(keys).aggregate([]), keys, join_type="inner").num_rows
                except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                    continue
                if shared:
                    msg = (f"{shared:,} key(s) on ({', '.join(keys)}) are also in {{other}}, loaded into the same "
                           f"table {la.table}: declare a precedence on both loads")
                    out.setdefault(a, []).append(msg.format(other=lb.source))
                    out.setdefault(b, []).append(msg.format(other=la.source))
    return out


# Arrow types for a CSV seed, from the declared BigQuery column types.
_CSV_TYPES = {"STRING": pa.string(), "INT64": pa.int64(), "FLOAT64": pa.float64(), "BOOL": pa.bool_(),
              "DATE": pa.date32(), "TIMESTAMP": pa.timestamp("us", tz="UTC"), "NUMERIC": pa.float64()}


def read_csv(path: Path, columns: list[tuple[str, str, str]]) -> pa.Table:
    """A CSV seed file typed by the table's declared columns (no guessing)."""
    import pyarrow.csv as pcsv

    types = {n: _CSV_TYPES[t] for n, t, _ in columns if t in _CSV_TYPES}
    table = pcsv.read_csv(path, read_options=pcsv.ReadOptions(),
                          parse_options=pcsv.ParseOptions(),
                          convert_options=pcsv.ConvertOptions(column_types=types, strings_can_be_null=False))
    return table


def _file_gates(data: pa.Table, load: Load) -> list[str]:
    """The file-level gates of a load: value ranges, distinct counts, interval tiling."""
    out: list[str] = []
    cols = set(data.column_names)
    for col, r in sorted(load.ranges.items()):
        if col not in cols:
            out.append(f"column {col}: missing (has a range gate)")
            continue
        c = data.column(col)
        for i, v in enumerate(c.to_pylist()):
            if v is None or (r.min is not None and v < r.min) or (r.max is not None and v > r.max):
                out.append(f"column {col}: value {v!r} at row {i + 1} outside {r.min:g}..{r.max:g}"
                           if r.min is not None and r.max is not None
                           else f"column {col}: value {v!r} at row {i + 1} out of range")
    for col, k in sorted(load.min_distinct.items()):
        if col not in cols:
            out.append(f"column {col}: missing (has a min_distinct gate)")
            continue
        n = len(set(data.column(col).to_pylist()) - {None})
        if n < k:
            out.append(f"column {col}: {n} distinct value(s), at least {k} required")
    iv = load.intervals
    if iv is not None:
        missing = [c for c in (iv.start, iv.end, iv.label) if c and c not in cols]
        if missing:
            return out + [f"interval column(s) missing: {', '.join(missing)}"]
        import datetime as dt

        rows = sorted(zip(data.column(iv.start).to_pylist(), data.column(iv.end).to_pylist(),
                          data.column(iv.label).to_pylist() if iv.label else [None] * data.num_rows,
                          range(1, data.num_rows + 1)), key=lambda r: (r[0] is None, r[0]))

        def name(r):
            return f"{r[2]!r} (row {r[3]})" if r[2] is not None else f"row {r[3]}"

        day = dt.timedelta(days=1)
        for r in rows:
            if r[0] is None or r[1] is None:
                out.append(f"{name(r)}: empty {iv.start if r[0] is None else iv.end}")
            elif r[1] < r[0]:
                out.append(f"{name(r)}: ends {r[1]} before it starts {r[0]}")
        rows = [r for r in rows if r[0] is not None and r[1] is not None]
        if rows and rows[0][0] > iv.covers_from:
            out.append(f"gap: {iv.covers_from} to {rows[0][0] - day} is before the first interval {name(rows[0])}")
        for a, b in zip(rows, rows[1:]):
            if b[0] > a[1] + day:
                out.append(f"gap: {a[1] + day} to {b[0] - day} between {name(a)} and {name(b)}")
            elif b[0] <= a[1]:
                out.append(f"overlap: {b[0]} to {min(a[1], b[1])} is in both {name(a)} and {name(b)}")
        if rows and max(r[1] for r in rows) < iv.covers_to:
            last = max(rows, key=lambda r: r[1])
            out.append(f"gap: {last[1] + day} to {iv.covers_to} is after the last interval {name(last)}")
    return out


class _Duplicate(ValueError):
    """A staging file with two columns of one name."""


def private_copy(path: Path) -> bytes:
    """The file's bytes, read once: what the gates check, what is hashed and what is loaded
    all come from this one copy, so a file swapped on disk meanwhile cannot slip in."""
    with open(path, "rb") as fh:
        return fh.read()


def bytes_hash(data: bytes) -> str:
    """The content hash of a private copy (the same value as `file_hash` of the file)."""
    return hashlib.sha256(data).hexdigest()


def _unreadable(load: Load, index: int, disp: str, path: Path, e: Exception) -> SpecError:
    msg = str(e).splitlines()[0] if str(e) else type(e).__name__
    kind = "CSV" if path.suffix == ".csv" else "Parquet"
    return SpecError(load.source, f"{disp}: loads[{index}].source", f"unreadable {kind} file: {msg}")


def inspect_source(desired: DesiredState, load: Load, index: int,
                   loaded: Callable[[str, str, str], bool] | None = None) -> SourceFile:
    """One staging file, from one private copy of its bytes. `loaded(table, source, hash)`
    (the snapshot's ledger): a file whose hash it knows was gated and loaded already, so
    only its schema and row count are read (Parquet metadata), no gate reads its rows."""
    disp = desired.files[0] if desired.files else "spec"
    path = resolve_in_root(Path(desired.root), load.source, disp, f"loads[{index}].source",
                           must_exist=False)
    if not path.is_file():
        return SourceFile(load.source, load.table, exists=False)
    try:
        raw = private_copy(path)
    except OSError as e:
        raise _unreadable(load, index, disp, path, e) from None
    content_hash = bytes_hash(raw)
    known = loaded is not None and loaded(load.table, load.source, content_hash)
    try:
        if path.suffix == ".csv":
            data = read_csv(pa.BufferReader(raw), desired.columns_of(load.table) or [])
            rows = data.num_rows
            schema = data.schema
        else:
            pf = pq.ParquetFile(pa.BufferReader(raw))
            rows = pf.metadata.num_rows
            schema = pf.schema_arrow
            data = None if known else pf.read()
        columns = tuple((f.name, arrow_to_bq(f.type)) for f in schema)
        seen: dict[str, str] = {}
        for f in schema:
            if f.name.lower() in seen:
                raise _Duplicate(f"column {f.name!r} appears twice"
                                 + (f" (as {seen[f.name.lower()]!r})" if seen[f.name.lower()] != f.name else "")
                                 + ": BigQuery column names are case-insensitive and unique")
            seen[f.name.lower()] = f.name
    except _Duplicate as e:
        kind = "CSV" if path.suffix == ".csv" else "Parquet"
        raise SpecError(load.source, f"{disp}: loads[{index}].source", f"bad {kind} file: {e}") from None
    except Exception as e:  # noqa: BLE001 - pyarrow raises many types for a bad file
        # A file that cannot be read at all is bad input, like a malformed spec:
        # stop before anything is sent to BigQuery.
        raise _unreadable(load, index, disp, path, e) from None
    problems = []
    if not known:
        if rows == 0:
            problems.append("file has no rows")
        problems += _key_problems(data, load.keys)
        problems += _placeholder_hits(data, desired.placeholder_values, load.placeholders)
        problems += _file_gates(data, load)
    for name, t in columns:
        if t.startswith("UNSUPPORTED"):
            problems.append(f"column {name}: unsupported type {t[12:-1]}")
    return SourceFile(load.source, load.table, exists=True, rows=rows, columns=columns,
                      content_hash=content_hash, problems=tuple(problems))


def _shared_keys(desired: DesiredState, files: tuple[SourceFile, ...]) -> tuple[SourceFile, ...]:
    """Each file's problems plus the keys it shares with another file loaded into the
    same table without a precedence (overlap_problems): read only for such tables."""
    counts: dict[str, int] = {}
    for ld in desired.loads:
        counts[ld.table] = counts.get(ld.table, 0) + 1
    if not any(n > 1 for n in counts.values()):
        return files
    keyed: list[tuple[Load, pa.Table | None]] = []
    for ld, f in zip(desired.loads, files):
        data = None
        if counts[ld.table] > 1 and ld.precedence is None and f.exists and not f.problems:
            path = Path(desired.root) / ld.source
            try:
                data = (read_csv(path, desired.columns_of(ld.table) or []) if path.suffix == ".csv"
                        else pq.read_table(path, columns=list(ld.keys))).select(list(ld.keys))
            except Exception:  # noqa: BLE001 - read once already; a file that changed since is judged at load
                data = None
        keyed.append((ld, data))
    extra = overlap_problems(keyed)
    return tuple(dataclasses.replace(f, problems=f.problems + tuple(extra[i])) if i in extra else f
                 for i, f in enumerate(files))


def read_sources(desired: DesiredState,
                 loaded: Callable[[str, str, str], bool] | None = None) -> SourceManifest:
    """Every declared staging file (`inspect_source`); `loaded` is the snapshot's
    `Snapshot.loaded`, when the plan has one: files already loaded skip their gates."""
    files = tuple(inspect_source(desired, ld, i, loaded) for i, ld in enumerate(desired.loads))
    files = _shared_keys(desired, files)
    log.info("read %d staging file(s), %d missing", sum(f.exists for f in files),
             sum(not f.exists for f in files))
    return SourceManifest(files)


def _known_by_all(table: str, source: str, content_hash: str) -> bool:
    return True


def read_sources_unchecked(desired: DesiredState) -> SourceManifest:
    """Every staging file read and hashed, its schema and row count from its metadata, no
    gate run yet: before the snapshot (a file that cannot be read is bad input before
    anything is sent to BigQuery); `gate_unloaded` then gates the files the ledger lacks."""
    return read_sources(desired, _known_by_all)


def gate_unloaded(desired: DesiredState, manifest: SourceManifest,
                  loaded: Callable[[str, str, str], bool]) -> SourceManifest:
    """`manifest` (from `read_sources_unchecked`) with the gates run on every file whose
    content hash `loaded` (the snapshot's ledger) does not know: the others were gated
    when they were loaded, and are not read again."""
    index = {(ld.table, ld.source): i for i, ld in enumerate(desired.loads)}
    out = []
    for f in manifest.files:
        if f.exists and not loaded(f.table, f.source, f.content_hash):
            i = index[(f.table, f.source)]
            f = inspect_source(desired, desired.loads[i], i)
        out.append(f)
    return SourceManifest(tuple(out))
