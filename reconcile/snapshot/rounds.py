"""The snapshot's rounds of queries: how `reconcile.snapshot.read` groups its queries
(per chunk of datasets, UNION ALL'ed; PARTITIONS also bounded in tables), runs one
round's queries concurrently, and tells the two failures a speculative read expects
from any other: a PARTITIONS query over more tables than BigQuery allows, and a query
of an ops table that does not exist.

Builds SQL text and runs the calls it is given; it never builds a client or sends a
request of its own, and it never swallows an error other than those two.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextvars
from typing import Any, Callable

from reconcile.bq.sqltext import qdataset, render_sql
from reconcile.snapshot.observe import strip_comments

READ_PARALLELISM = 10  # queries of one round in flight at once (like Terraform's -parallelism)

# BigQuery's answer to a PARTITIONS query over more than 1,000 tables: "INFORMATION_SCHEMA.PARTITIONS
# query attempted to read too many tables. Please add more restrictive filters."
# https://cloud.google.com/bigquery/docs/information-schema-partitions
_TOO_MANY_TABLES = "attempted to read too many tables"
# BigQuery's answer to a query of a table that does not exist (404 notFound):
# "Not found: Table <project>:<dataset>.<table> was not found in location <loc>".
_NOT_FOUND_TABLE = "not found: table"


class Round:
    """The queries of one round: `add` a call, get its index; `run` them all."""

    def __init__(self) -> None:
        self.calls: list[Callable[[], Any]] = []

    def add(self, fn: Callable[[], Any]) -> int:
        self.calls.append(fn)
        return len(self.calls) - 1

    def run(self, parallelism: int) -> list[Any]:
        return run_concurrently(self.calls, parallelism)


def run_concurrently(fns: list[Callable[[], Any]], parallelism: int) -> list[Any]:
    """Run the calls with at most `parallelism` in flight; their results in order.
    The first error (in call order) is raised once every call has ended; in sequence
    (parallelism 1), at once. Each call runs in a copy of the caller's context (a Prefect
    task run's, in the flows). Used by the snapshot's rounds and by the apply's handlers."""
    if parallelism <= 1 or len(fns) <= 1:
        return [f() for f in fns]
    with cf.ThreadPoolExecutor(max_workers=min(parallelism, len(fns)),
                               thread_name_prefix="concurrent") as pool:
        futures = [pool.submit(contextvars.copy_context().run, f) for f in fns]
        cf.wait(futures)
    return [f.result() for f in futures]


def chunks(items: list[str], size: int) -> list[list[str]]:
    return [items[i:i + size] for i in range(0, len(items), size)]


def union(template: str, project: str, datasets: list[str]) -> str:
    """One query: the per-dataset template rendered for each dataset, UNION ALL'ed."""
    parts = [strip_comments(render_sql(template, dataset=qdataset(project, d))) for d in datasets]
    return "\nUNION ALL\n".join(f"({p})" for p in parts)


def partition_batches(stored: dict[str, list[str]], max_tables: int,
                      max_datasets: int) -> list[tuple[list[str], list[str] | None]]:
    """Group datasets (name -> their stored tables) into PARTITIONS queries.

    Each query covers at most `max_datasets` datasets and `max_tables` tables. A dataset
    with more tables than that gets queries of its own, each naming its tables:
    (datasets, None) reads whole datasets, ([ds], names) reads some tables."""
    batches: list[tuple[list[str], list[str] | None]] = []
    cur: list[str] = []
    n = 0
    for ds in sorted(stored):
        k = len(stored[ds])
        if k == 0:
            continue
        if k > max_tables:
            for names in chunks(sorted(stored[ds]), max_tables):
                batches.append(([ds], names))
            continue
        if cur and (len(cur) >= max_datasets or n + k > max_tables):
            batches.append((cur, None))
            cur, n = [], 0
        cur.append(ds)
        n += k
    if cur:
        batches.append((cur, None))
    return batches


def _says(exc: BaseException, words: str) -> bool:
    """Whether the error (or one it was raised from) says `words` (case-insensitive)."""
    seen = 0
    while exc is not None and seen < 5:
        if words in str(exc).lower():
            return True
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return False


def too_many_tables(exc: BaseException) -> bool:
    """Whether a PARTITIONS query failed for reading more tables than BigQuery allows."""
    return _says(exc, _TOO_MANY_TABLES)


def table_missing(exc: BaseException, dataset: str, table: str) -> bool:
    """Whether a query of `dataset.table` failed because that table does not exist (and
    not for any other reason: a missing dataset, a permission, a fault all still raise)."""
    return _says(exc, _NOT_FOUND_TABLE) and _says(exc, f"{dataset}.{table}".lower())


def speculative(fn: Callable[[], Any], fails_as: Callable[[BaseException], bool], instead: Any) -> Callable[[], Any]:
    """The call, answering `instead` when it fails with an error `fails_as` recognises."""
    def call() -> Any:
        try:
            return fn()
        except Exception as e:  # noqa: BLE001 - recognised or raised again
            if fails_as(e):
                return instead
            raise
    return call
