"""What the snapshot measures on each load target, in the batched observations
(`observe_many`: one UNION ALL per location, whatever the number of tables):

- `load_keys:<k1,k2,...>`: the distinct values of the load's declared keys. With the
  table's `rows`, how many rows repeat a key: a target holding duplicate keys is not
  merged into (a MERGE would update every copy and keep them; FINDINGS.md F2);
- `load_range:<source>`: for a file the ledger records as loaded (its current content
  hash) with the range of its first key column, the distinct keys the table holds in that
  range. Fewer than the file's rows there: the table no longer holds the file (rows
  deleted outside the tool), and the planner merges the file again (issue 18, "Tables
  over ledgers"). Rows of other files or added by hand in the range can hide a deletion
  (the check is cheap, not a proof); they never make a loaded file look missing.

`load_metrics` builds the metrics (SQL expressions over validated, quoted column names;
values as query parameters, given as (name, value) for the reader to type); `split`
moves them out of the observations. Pure: no I/O, and it does not import the adapter
(the planner reads the metric names from here).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from reconcile import identifiers as ids
from reconcile.snapshot.model import ColumnState, LedgerEntry

if TYPE_CHECKING:
    from reconcile.spec.model import DesiredState

KEYS_METRIC = "load_keys:"
RANGE_METRIC = "load_range:"
# Types whose values travel as a string and CAST back exactly (the ledger keeps key_min
# and key_max as strings).
RANGE_TYPES = frozenset({"DATE", "DATETIME", "TIMESTAMP", "INT64", "STRING", "NUMERIC", "BIGNUMERIC", "FLOAT64",
                         "BOOL", "TIME"})


def keys_metric(keys: list[str] | tuple[str, ...]) -> str:
    return KEYS_METRIC + ",".join(keys)


def range_metric(source: str) -> str:
    return RANGE_METRIC + source


def current_entry(ledger: list[LedgerEntry], table: str, source: str, content_hash: str) -> LedgerEntry | None:
    """The latest ledger row of this file (this content) in this table."""
    found = [e for e in ledger if e.table == table and e.source == source and e.content_hash == content_hash]
    return found[-1] if found else None  # the ledger is read in loaded_at order


def load_metrics(desired: DesiredState, columns: dict[str, list[ColumnState] | None], ledger: list[LedgerEntry],
                 pprefix: str = "x") -> dict[str, tuple[list[tuple[str, str, str | None]], list[Any]]]:
    """Per existing load target (`columns`: ref -> its columns, for the targets that exist):
    ((metric, SQL expression, type), query parameters as (name, STRING value)). A target
    whose columns are not known, or that lacks a key column, gets none (the planner
    refuses such a load)."""
    out: dict[str, tuple[list[tuple[str, str, str | None]], list[Any]]] = {}
    for n, ref in enumerate(sorted({ld.table for ld in desired.loads})):
        cols = columns.get(ref)
        if not cols:
            continue
        by_lower = {c.name.lower(): c for c in cols}
        wanted: list[tuple[str, str, str | None]] = []
        params: list[Any] = []
        for ld in sorted((x for x in desired.loads if x.table == ref), key=lambda x: x.source):
            key_cols = [by_lower.get(k.lower()) for k in ld.keys]
            if any(c is None or c.mode == "REPEATED" for c in key_cols):
                continue
            struct = f"TO_JSON_STRING(STRUCT({', '.join(ids.quote_column(c.name) for c in key_cols)}))"
            metric = keys_metric(ld.keys)
            if metric not in [m for m, _, _ in wanted]:
                wanted.append((metric, f"COUNT(DISTINCT {struct})", "INT64"))
            entries = [e for e in ledger if e.table == ref and e.source == ld.source and e.key_rows is not None]
            if not entries:
                continue
            e = entries[-1]  # the latest load of this file: the planner compares it to the file now
            first = key_cols[0]
            if e.key_column != ld.keys[0] or first.type not in RANGE_TYPES or e.key_min is None or e.key_max is None:
                continue
            lo, hi = f"{pprefix}{n}_{len(params)}", f"{pprefix}{n}_{len(params) + 1}"
            params += [(lo, e.key_min), (hi, e.key_max)]
            col = ids.quote_column(first.name)
            wanted.append((range_metric(ld.source),
                           f"COUNT(DISTINCT IF({col} BETWEEN CAST(@{lo} AS {first.type}) AND "
                           f"CAST(@{hi} AS {first.type}), {struct}, NULL))", "INT64"))
        if wanted:
            out[ref] = (wanted, params)
    return out


def split(observed: dict[str, dict[str, Any]], expected: set[str],
          loads: set[str]) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    """(expectation observations, load checks) from one batched measure: the load metrics
    and the row count of each load target go to the load checks; the observations keep
    only the tables with expectations, as they would be without the load checks."""
    obs: dict[str, dict[str, Any]] = {}
    checks: dict[str, dict[str, Any]] = {}
    for ref, metrics in observed.items():
        if ref in loads:
            checks[ref] = {k: v for k, v in metrics.items()
                           if k == "rows" or k.startswith((KEYS_METRIC, RANGE_METRIC))}
        if ref in expected:
            obs[ref] = {k: v for k, v in metrics.items() if not k.startswith((KEYS_METRIC, RANGE_METRIC))}
    return obs, checks
