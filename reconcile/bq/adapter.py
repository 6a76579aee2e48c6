"""The one BigQuery adapter: every request the tool sends goes through here.

It wraps the official `google-cloud-bigquery` client, counts the HTTP requests
it sends (the snapshot's cost is measured in requests), labels every job with
the run id, and hides the few places where the local emulator and BigQuery
differ (see docs/emulator.md). It holds no planning logic, and builds no SQL:
the statements it sends itself are templates under sql/adapter/ (`sqltext`).

Making a client (`clients`) and typing query parameters (`params`) live beside
it and are re-exported here, so callers import one module.

It is a little over 400 lines on purpose: one class is the whole surface between the
tool and BigQuery (retries, labels, job ids, error translation), read in one place.
"""

from __future__ import annotations

import io

import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

from google.api_core import exceptions as gexc
from google.cloud import bigquery

from reconcile import identifiers as ids
from reconcile.bq.clients import cloud_client, default_timeout, emulator_host_from_env, local_client
from reconcile.bq.params import array_param, param
from reconcile.bq.sqltext import QuotedIdent, qcol, qdataset, qparam, qrow, qtable, render_sql, statement

__all__ = ["TRANSIENT", "TRANSIENT_STATUS", "Adapter", "BigQueryError", "DmlStats", "RequestCounter",
           "array_param", "cloud_client", "emulator_host_from_env", "is_transient", "local_client", "param"]

log = logging.getLogger(__name__)

# Errors worth retrying: the request may succeed when sent again.
TRANSIENT = (
    gexc.InternalServerError, gexc.BadGateway, gexc.ServiceUnavailable, gexc.GatewayTimeout,
    gexc.TooManyRequests, ConnectionError, TimeoutError,
)


class BigQueryError(RuntimeError):
    """A BigQuery request failed; the message says which and why (never credentials)."""


@dataclass
class RequestCounter:
    count: int = 0
    by_method: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def hook(self, response: Any, *args: Any, **kwargs: Any) -> Any:
        method = getattr(getattr(response, "request", None), "method", "?")
        with self._lock:
            self.count += 1
            self.by_method[method] = self.by_method.get(method, 0) + 1
        return response


def _is_transient(exc: BaseException) -> bool:
    if isinstance(exc, TRANSIENT):
        return True
    name = type(exc).__name__
    return name in ("ConnectionError", "ReadTimeout", "ConnectTimeout", "ChunkedEncodingError",
                    "RemoteDisconnected", "ProtocolError")


# HTTP answers worth retrying later (404 is an answer: "it does not exist").
TRANSIENT_STATUS = frozenset({408, 429, 500, 502, 503, 504})
# How a dropped connection or a timeout reads in a failure's message.
_TRANSIENT_WORDS = ("ConnectionError", "Connection aborted", "Connection refused", "timed out",
                    "ReadTimeout", "RemoteDisconnected")


def is_transient(exc: BaseException | None = None, status: int | None = None, detail: str = "") -> bool:
    """Whether a failure is worth retrying later, after the adapter's own quick retries
    gave up: the last HTTP error `status` was 408, 429 or 5xx, or `exc` (or an exception
    it was raised from) is a transient one, or `detail` names a dropped connection or a
    timeout. The one classification: the adapter's retries use its exception rule, the
    flows' task retries all of it."""
    if status in TRANSIENT_STATUS:
        return True
    seen = 0
    while exc is not None and seen < 10:
        if _is_transient(exc):
            return True
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return any(w in detail for w in _TRANSIENT_WORDS)


class Adapter:
    """BigQuery I/O for one project. `run_id` labels every job it starts."""

    def __init__(self, client: bigquery.Client, project: str, *, run_id: str | None = None,
                 emulator: bool = False, retries: int = 3, http_timeout: float | None = None):
        self.client = client
        self.project = ids.check_project(project)
        self.run_id = run_id
        self.emulator = emulator
        self.retries = retries
        self.requests = RequestCounter()
        self.jobs: list[str] = []  # ids of the jobs this adapter started, in order (run results)
        http = getattr(client, "_http", None)
        if http is not None and hasattr(http, "hooks"):
            http.hooks.setdefault("response", []).append(self.requests.hook)
        if http_timeout is not None and http is not None:
            default_timeout(http, http_timeout)

    # ------------------------------------------------------------ helpers

    def _labels(self) -> dict[str, str]:
        if not self.run_id:
            return {}
        return {"reconcile_run_id": self.run_id.lower()[:63]}

    def _retry(self, what: str, fn, *args, **kwargs):
        delay = 0.5
        for attempt in range(self.retries + 1):
            try:
                return fn(*args, **kwargs)
            except Exception as e:  # noqa: BLE001 - classified below
                if attempt < self.retries and _is_transient(e):
                    log.warning("%s: transient error (%s), retry %d/%d in %.1fs",
                                what, type(e).__name__, attempt + 1, self.retries, delay)
                    time.sleep(delay)
                    delay *= 2
                    continue
                raise

    def _job(self, job: Any) -> None:
        job_id = getattr(job, "job_id", None)
        if job_id:
            self.jobs.append(str(job_id))

    def table_id(self, ref: str) -> str:
        ds, t = ids.split_table_ref(ref)
        return f"{self.project}.{ds}.{t}"

    def q(self, ref: str) -> QuotedIdent:
        """Backtick-quoted `project`.`dataset`.`table` for a checked 'dataset.table'."""
        ds, t = ids.split_table_ref(ref)
        return qtable(self.project, ds, t)

    # ------------------------------------------------------------ queries

    def query(self, sql: str, params: Sequence[Any] = (), *, location: str | None = None,
              what: str = "query") -> list[dict[str, Any]]:
        """Run one query and return its rows as dicts. Jobs carry the run label."""
        cfg = bigquery.QueryJobConfig(query_parameters=list(params), labels=self._labels())

        def run():
            rows = self.client.query_and_wait(sql, job_config=cfg, location=location,
                                              project=self.project)
            self._job(rows)
            # The emulator answers a failed jobs.query with jobComplete, no rows and an
            # `errors` list instead of an HTTP error (docs/emulator.md): surface it, or a
            # failed read would look like an empty result.
            first = getattr(rows, "_first_page_response", None) or {}
            if first.get("errors") and not first.get("rows"):
                msg = "; ".join(str(e.get("message", e)) for e in first["errors"])
                raise BigQueryError(f"{what} failed: {msg}")
            return [dict(r.items()) for r in rows]

        try:
            return self._retry(what, run)
        except gexc.GoogleAPICallError as e:
            raise BigQueryError(f"{what} failed: {e.message if hasattr(e, 'message') else e}") from e

    def execute(self, sql: str, *, location: str | None = None, what: str = "statement",
                params: Sequence[Any] = ()) -> int | None:
        """Run a DDL/DML statement; return the number of affected rows if known."""
        cfg = bigquery.QueryJobConfig(query_parameters=list(params), labels=self._labels())

        def run():
            job = self.client.query(sql, job_config=cfg, location=location, project=self.project)
            self._job(job)
            job.result()
            return job.num_dml_affected_rows

        try:
            return self._retry(what, run)
        except gexc.GoogleAPICallError as e:
            raise BigQueryError(f"{what} failed: {getattr(e, 'message', e)}") from e

    # ------------------------------------------------------------ datasets

    def list_datasets(self) -> list[tuple[str, str]]:
        """(name, location) of every dataset in the project, all regions, one paged list."""
        out = []
        for item in self._retry("list datasets", lambda: list(self.client.list_datasets(
                project=self.project, include_all=True, page_size=1000))):
            loc = item._properties.get("location")
            out.append((item.dataset_id, loc or "US"))
        return sorted(out)

    def create_dataset(self, name: str, location: str, description: str | None = None,
                       labels: dict[str, str] | None = None) -> bool:
        """Create a dataset with its location set through the API (the emulator ignores
        OPTIONS(location=...) in DDL). Returns False if it already existed."""
        ds = bigquery.Dataset(f"{self.project}.{ids.check_dataset(name)}")
        ds.location = ids.check_location(location)
        if description:
            ds.description = description
        if labels:
            ds.labels = dict(labels)
        try:
            self._retry(f"create dataset {name}", self.client.create_dataset, ds, exists_ok=False)
            return True
        except gexc.Conflict:
            return False

    def dataset_location(self, name: str) -> str | None:
        try:
            ds = self._retry("get dataset", self.client.get_dataset,
                             f"{self.project}.{ids.check_dataset(name)}")
            return ds.location
        except gexc.NotFound:
            return None

    def delete_dataset(self, name: str) -> None:
        self._retry(f"delete dataset {name}", self.client.delete_dataset,
                    f"{self.project}.{ids.check_dataset(name)}", delete_contents=True,
                    not_found_ok=True)

    # ------------------------------------------------------------ tables

    def table_exists(self, ref: str) -> bool:
        try:
            self._retry("get table", self.client.get_table, self.table_id(ref))
            return True
        except gexc.NotFound:
            return False

    def get_schema(self, ref: str) -> list[bigquery.SchemaField] | None:
        try:
            return list(self._retry("get table", self.client.get_table, self.table_id(ref)).schema)
        except gexc.NotFound:
            return None

    def create_table(self, ref: str, columns: Iterable[tuple[str, str, str]], *,
                     partition_by: str | None = None, partition_granularity: str = "DAY",
                     cluster_by: Sequence[str] = (),
                     description: str | None = None, labels: dict[str, str] | None = None,
                     expires_ms: int | None = None) -> bool:
        schema = [bigquery.SchemaField(ids.check_column(n), t, mode=m) for n, t, m in columns]
        table = bigquery.Table(self.table_id(ref), schema=schema)
        if partition_by:
            col_type = next((t for n, t, _ in columns if n == partition_by), "DATE")
            if col_type in ("DATE", "TIMESTAMP", "DATETIME"):
                table.time_partitioning = bigquery.TimePartitioning(
                    type_=partition_granularity, field=partition_by)
        if cluster_by:
            table.clustering_fields = list(cluster_by)
        if description:
            table.description = description
        if labels:
            table.labels = dict(labels)
        if expires_ms is not None:
            import datetime as dt
            table.expires = dt.datetime.now(dt.timezone.utc) + dt.timedelta(milliseconds=expires_ms)
        try:
            self._retry(f"create table {ref}", self.client.create_table, table, exists_ok=False)
            return True
        except gexc.Conflict:
            return False

    def add_columns(self, ref: str, columns: Iterable[tuple[str, str, str]]) -> None:
        table = self._retry("get table", self.client.get_table, self.table_id(ref))
        have = {f.name for f in table.schema}
        new = [bigquery.SchemaField(ids.check_column(n), t, mode="NULLABLE")
               for n, t, _ in columns if n not in have]
        if not new:
            return
        table.schema = list(table.schema) + new
        self._retry(f"add columns to {ref}", self.client.update_table, table, ["schema"])

    def delete_table(self, ref: str) -> None:
        self._retry(f"delete table {ref}", self.client.delete_table, self.table_id(ref),
                    not_found_ok=True)

    def count_rows(self, ref: str, location: str | None = None) -> int:
        """Exact row count (COUNT(*)): for decisions and parity checks, never num_rows."""
        rows = self.query(statement("adapter/count_rows.sql", table=self.q(ref)), location=location,
                          what=f"count {ref}")
        return int(rows[0]["n"])

    # ------------------------------------------------------------ jobs

    def load_parquet(self, path: Path, ref: str, *, location: str | None = None,
                     data: bytes | None = None, write_empty: bool = False) -> int:
        """Load a local Parquet file into an existing (empty, temporary) table. Appends only.

        `data`: the file's bytes (a private copy the caller checked), sent instead of
        reading `path` again (`path` then only names it). `write_empty`: WRITE_EMPTY, the
        job fails unless the table is empty, atomically
        (https://cloud.google.com/bigquery/docs/reference/rest/v2/Job#JobConfigurationLoad
        writeDisposition)."""
        cfg = bigquery.LoadJobConfig(
            source_format=bigquery.SourceFormat.PARQUET,
            write_disposition=(bigquery.WriteDisposition.WRITE_EMPTY if write_empty
                               else bigquery.WriteDisposition.WRITE_APPEND),
            create_disposition=bigquery.CreateDisposition.CREATE_NEVER,
            labels=self._labels(),
        )

        def run():
            with (io.BytesIO(data) if data is not None else open(path, "rb")) as fh:
                job = self.client.load_table_from_file(fh, self.table_id(ref), job_config=cfg,
                                                       location=location, rewind=True)
            self._job(job)
            job.result()
            return job.output_rows

        try:
            out = self._retry(f"load {path.name}", run)
        except gexc.GoogleAPICallError as e:
            raise BigQueryError(f"load of {path.name} into {ref} failed: {getattr(e, 'message', e)}") from e
        return int(out or 0)

    def copy_table(self, src: str, dst: str, *, location: str | None = None) -> None:
        """Copy job (works across regions on BigQuery, unlike a query). Never overwrites:
        the destination must not exist (WRITE_EMPTY)."""
        cfg = bigquery.CopyJobConfig(
            write_disposition=bigquery.WriteDisposition.WRITE_EMPTY,
            create_disposition=bigquery.CreateDisposition.CREATE_IF_NEEDED,
            labels=self._labels(),
        )

        def run():
            job = self.client.copy_table(self.table_id(src), self.table_id(dst), job_config=cfg,
                                         location=location)
            self._job(job)
            job.result()

        try:
            self._retry(f"copy {src} -> {dst}", run)
        except gexc.GoogleAPICallError as e:
            raise BigQueryError(f"copy {src} -> {dst} failed: {getattr(e, 'message', e)}") from e

    def insert_rows_dml(self, ref: str, rows: list[dict[str, Any]], *, location: str | None = None) -> None:
        """Append small records (ledger, run records) with a parameterised INSERT (no streaming)."""
        if not rows:
            return
        cols = list(rows[0])
        table, columns = self.q(ref), [qcol(c) for c in cols]  # checked before any name is built
        params = [param(f"p{i}_{c}", r[c]) for i, r in enumerate(rows) for c in cols]
        values = [qrow([f"p{i}_{c}" for c in cols]) for i in range(len(rows))]
        sql = statement("adapter/insert_rows.sql", table=table, columns=columns, rows=values)
        self.execute(sql, params=params, location=location, what=f"insert into {ref}")

    # ------------------------------------------------------------ executor helpers

    def run_dml(self, sql: str, *, location: str | None = None, what: str = "DML",
                params: Sequence[Any] = ()) -> "DmlStats":
        """Run one DML statement and return what it changed. BigQuery reports inserted /
        updated / deleted rows (`dml_stats`); the emulator reports only the total
        (`num_dml_affected_rows`): the split is then None and the caller counts."""
        cfg = bigquery.QueryJobConfig(query_parameters=list(params), labels=self._labels())

        def run():
            job = self.client.query(sql, job_config=cfg, location=location, project=self.project)
            self._job(job)
            job.result()
            st = job.dml_stats
            return DmlStats(
                affected=int(job.num_dml_affected_rows or 0),
                inserted=None if st is None else int(st.inserted_row_count or 0),
                updated=None if st is None else int(st.updated_row_count or 0),
                deleted=None if st is None else int(st.deleted_row_count or 0),
            )

        try:
            return self._retry(what, run)
        except gexc.GoogleAPICallError as e:
            raise BigQueryError(f"{what} failed: {getattr(e, 'message', e)}") from e

    def list_tables(self, dataset: str) -> list[tuple[str, str]]:
        """(table name, type) of every object in a dataset (TABLE, VIEW, SNAPSHOT, ...),
        one paged list request. [] if the dataset does not exist."""
        try:
            items = self._retry(f"list tables {dataset}", lambda: list(self.client.list_tables(
                f"{self.project}.{ids.check_dataset(dataset)}", page_size=1000)))
        except gexc.NotFound:
            return []
        return sorted((t.table_id, t.table_type or "TABLE") for t in items)

    def view_definitions(self, dataset: str, *, location: str | None = None) -> dict[str, str]:
        """View name -> SQL of one dataset's views, from INFORMATION_SCHEMA.VIEWS (the
        emulator's tables.get leaves `view.query` empty, so the API cannot be used)."""
        rows = self.query(render_sql("snapshot/views.sql", dataset=qdataset(self.project, dataset)),
                          location=location, what=f"views of {dataset}")
        return {r["table_name"]: r["view_definition"] for r in rows}

    def set_table_expiry(self, ref: str, days: float) -> None:
        """Expire a table `days` from now (API update; DDL `SET OPTIONS` does not parse on the
        emulator, which also ignores expirations: docs/emulator.md)."""
        import datetime as dt

        table = self._retry("get table", self.client.get_table, self.table_id(ref))
        table.expires = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=days)
        self._retry(f"set expiry of {ref}", self.client.update_table, table, ["expires"])

    def count_rows_many(self, refs: Sequence[str], *, location: str | None = None) -> dict[str, int]:
        """Exact COUNT(*) of several tables of one location in one query (UNION ALL)."""
        refs = list(dict.fromkeys(refs))
        if not refs:
            return {}
        parts, params = [], []
        for i, ref in enumerate(refs):
            parts.append(statement("adapter/count_rows_part.sql", label=qparam(f"t{i}"),
                                   table=self.q(ref)))
            params.append(param(f"t{i}", ref))
        rows = self.query("\nUNION ALL\n".join(parts), params, location=location,
                          what=f"count {len(refs)} table(s)")
        return {r["t"]: int(r["n"]) for r in rows}


@dataclass(frozen=True)
class DmlStats:
    affected: int
    inserted: int | None = None
    updated: int | None = None
    deleted: int | None = None
