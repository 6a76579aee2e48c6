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

import hashlib
import io
import logging
import os
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

from google.api_core import exceptions as gexc
from google.cloud import bigquery

from reconcile import identifiers as ids
from reconcile.bq.clients import cloud_client, default_timeout, emulator_host_from_env, local_client
from reconcile.bq.params import array_param, param
from reconcile.bq.sqltext import QuotedIdent, qcol, qdataset, qparam, qrow, qtable, render_sql, statement

__all__ = ["RETRY_REASONS", "TRANSIENT", "TRANSIENT_STATUS", "Adapter", "error_reasons", "BigQueryError", "DmlStats", "RequestCounter",
           "is_not_found", "array_param", "cloud_client", "emulator_host_from_env", "is_transient", "local_client", "param"]

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


# Error reasons BigQuery asks to retry with backoff: rate limits are HTTP 403 with reason
# `rateLimitExceeded` ("too many table update operations": 5 metadata updates per table per
# 10 s is one), server faults 500/503 `backendError` / `internalError`. `quotaExceeded` (a
# daily quota) is not: retrying it only burns the next day's budget.
# https://cloud.google.com/bigquery/docs/error-messages,
# https://cloud.google.com/bigquery/docs/troubleshoot-quotas
RETRY_REASONS = frozenset({"rateLimitExceeded", "backendError", "internalError", "badGateway",
                           "jobRateLimitExceeded", "jobBackendError", "jobInternalError"})
_RETRY_WORDS = ("too many table update operations", "Exceeded rate limits")


def error_reasons(exc: BaseException) -> list[str]:
    """The `reason` of each error BigQuery gave (a GoogleAPICallError's `errors`)."""
    out = []
    for e in getattr(exc, "errors", None) or ():
        if isinstance(e, dict) and e.get("reason"):
            out.append(str(e["reason"]))
    return out


def is_not_found(exc: BaseException) -> bool:
    """Whether BigQuery answered that a table or dataset the statement names does not exist
    (HTTP 404, reason `notFound`: "Not found: Table ..." / "Not found: Dataset ...", also for
    a dataset in another location), on the error or the one it was raised from. A statement
    so refused changed nothing. A 404 about the job itself ("Not found: Job ...", e.g. its
    status asked in the wrong place) says nothing of what the statement did: not this."""
    seen = 0
    while exc is not None and seen < 5:
        if isinstance(exc, gexc.NotFound) or "notFound" in error_reasons(exc):
            text = str(exc).lower()
            return "not found: job" not in text and ("table" in text or "dataset" in text)
        exc = exc.__cause__
        seen += 1
    return False


def _is_transient(exc: BaseException) -> bool:
    if isinstance(exc, gexc.GoogleAPICallError):
        reasons = error_reasons(exc)
        if "quotaExceeded" in reasons:
            return False
        if any(r in RETRY_REASONS for r in reasons):
            return True
        if any(w in str(getattr(exc, "message", "")) for w in _RETRY_WORDS):
            return True
    if isinstance(exc, TRANSIENT):
        return True
    name = type(exc).__name__
    return name in ("ConnectionError", "ReadTimeout", "ConnectTimeout", "ChunkedEncodingError",
                    "RemoteDisconnected", "ProtocolError", "Timeout")


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

    # Retries: exponential backoff from `retry_delay`, doubling, at most `max_delay` each, at
    # most `retries` times (5: 0.5+1+2+4+8 s outlasts the 10 s window of BigQuery's table
    # update rate limit).
    # Scans (`query`) are capped by `maximum_bytes_billed` (None: no cap): a scan that would
    # bill more fails instead of billing it.
    # https://cloud.google.com/bigquery/docs/best-practices-costs#limit_query_costs_by_restricting_the_number_of_bytes_billed
    DEFAULT_MAX_BYTES_BILLED = 100 * 2**30

    def __init__(self, client: bigquery.Client, project: str, *, run_id: str | None = None,
                 emulator: bool = False, retries: int = 5, http_timeout: float | None = None,
                 retry_delay: float = 0.5, max_delay: float = 16.0,
                 maximum_bytes_billed: int | None = DEFAULT_MAX_BYTES_BILLED):
        self.client = client
        self.project = ids.check_project(project)
        self.run_id = run_id
        self.emulator = emulator
        self.retries = retries
        self.retry_delay = retry_delay
        self.max_delay = max_delay
        self.maximum_bytes_billed = maximum_bytes_billed
        self.requests = RequestCounter()
        self.jobs: list[str] = []  # ids of the jobs this adapter started, in order (run results)
        # dataset -> location, from the lists and gets this adapter made: every job is sent
        # with an explicit location (https://cloud.google.com/bigquery/docs/locations).
        self._locations: dict[str, str] = {}
        # Job ids per logical statement: <prefix>_<kind>_<hash of the statement>_<n>_<attempt>.
        # The prefix holds the run id and this adapter's own nonce: a retry of a call re-sends
        # its id (a lost answer is then read back, never run twice), while another adapter of
        # the same run (a flow task, a resumed run) sending the same text runs it anew.
        self._id_prefix = f"reconcile_{ids_safe(run_id or 'norun')}_{uuid.uuid4().hex[:8]}"
        self._statement_seq: dict[str, int] = {}
        http = getattr(client, "_http", None)
        if http is not None and hasattr(http, "hooks"):
            http.hooks.setdefault("response", []).append(self.requests.hook)
        if http_timeout is not None and http is not None:
            default_timeout(http, http_timeout)
        self._http_timeout = http_timeout

    # ------------------------------------------------------------ helpers

    def _labels(self) -> dict[str, str]:
        if not self.run_id:
            return {}
        return {"reconcile_run_id": self.run_id.lower()[:63]}

    def _delay(self, attempt: int) -> float:
        return min(self.max_delay, self.retry_delay * (2 ** attempt))

    def _retry(self, what: str, fn, *args, **kwargs):
        for attempt in range(self.retries + 1):
            try:
                return fn(*args, **kwargs)
            except Exception as e:  # noqa: BLE001 - classified below
                if attempt < self.retries and _is_transient(e):
                    delay = self._delay(attempt)
                    log.warning("%s: transient error (%s %s), retry %d/%d in %.1fs", what,
                                type(e).__name__, ",".join(error_reasons(e)), attempt + 1, self.retries, delay)
                    time.sleep(delay)
                    continue
                raise

    def _statement_id(self, kind: str, text: str, params: Sequence[Any] = ()) -> str:
        """A job id for one logical statement: the same call retried keeps it (BigQuery answers
        a re-sent id with 409 and the job that ran, so nothing runs twice); the same text sent
        again on purpose gets the next number. https://cloud.google.com/bigquery/docs/running-jobs#generate-jobid"""
        h = hashlib.sha256((kind + "\0" + text + "\0" + repr([getattr(p, "to_api_repr", lambda: p)()
                                                              for p in params])).encode()).hexdigest()[:16]
        with self.requests._lock:
            n = self._statement_seq.get(h, 0)
            self._statement_seq[h] = n + 1
        return f"{self._id_prefix}_{kind}_{h}_{n}"

    def _run_job(self, what: str, base_id: str, start, location: str | None):
        """Start a job under a deterministic id and wait for it, retrying transient failures:
        a lost answer re-sends the same id (409: the existing job is read, not run again); a job
        that ran and failed with a retryable reason is started again under the next attempt id."""
        attempt = 0
        for i in range(self.retries + 1):
            job_id = f"{base_id}_{attempt}"
            job = None
            try:
                try:
                    job = start(job_id)
                except gexc.Conflict:
                    job = self.client.get_job(job_id, project=self.project, location=location)
                self._job(job)
                # A job that is already DONE in the insert's answer (the local BigQuery runs
                # it inside the request) and has no error needs no poll: result() would send
                # one more getQueryResults for rows a statement does not return.
                if getattr(job, "state", None) != "DONE" or getattr(job, "error_result", None):
                    job.result()
                return job
            except Exception as e:  # noqa: BLE001 - classified below
                if i < self.retries and _is_transient(e):
                    if job is not None and getattr(job, "error_result", None):
                        attempt += 1  # that job ran and failed: a new one, under a new id
                    delay = self._delay(i)
                    log.warning("%s: transient error (%s %s), retry %d/%d in %.1fs", what,
                                type(e).__name__, ",".join(error_reasons(e)), i + 1, self.retries, delay)
                    time.sleep(delay)
                    continue
                raise

    def _note(self, name: str, location: str | None) -> None:
        if location:
            self._locations[name] = location

    def location_of(self, dataset: str) -> str | None:
        """A dataset's location, from what this adapter has seen, else one get."""
        if dataset not in self._locations:
            self.dataset_location(dataset)
        return self._locations.get(dataset)

    def _where(self, location: str | None, sql: str) -> str | None:
        """The explicit location of a job: the one given, else that of the first dataset the
        statement names (BigQuery runs a query where its datasets are)."""
        if location:
            return location
        from reconcile.bq.sqltext import referenced_datasets

        for ds in referenced_datasets(sql, self.project):
            loc = self.location_of(ds)
            if loc:
                return loc
        return None

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
        """Run one query and return its rows as dicts. Jobs carry the run label, an explicit
        location and the adapter's `maximum_bytes_billed`."""
        cfg = bigquery.QueryJobConfig(query_parameters=list(params), labels=self._labels(),
                                      maximum_bytes_billed=self.maximum_bytes_billed)
        location = self._where(location, sql)

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

    def dry_run(self, sql: str, *, location: str | None = None, params: Sequence[Any] = (),
                what: str = "dry run") -> tuple[str | None, tuple[str, ...]]:
        """BigQuery's own reading of a statement, without running it: (statementType, the
        tables it references as `dataset.table` in this project, or `project.dataset.table`).
        A dry run is free and changes nothing
        (https://cloud.google.com/bigquery/docs/running-queries#dry-run)."""
        cfg = bigquery.QueryJobConfig(dry_run=True, use_query_cache=False, query_parameters=list(params),
                                      labels=self._labels())
        location = self._where(location, sql)

        def run():
            job = self.client.query(sql, job_config=cfg, location=location, project=self.project)
            refs = tuple(f"{t.dataset_id}.{t.table_id}" if t.project == self.project
                         else f"{t.project}.{t.dataset_id}.{t.table_id}" for t in job.referenced_tables or ())
            return job.statement_type, refs

        try:
            return self._retry(what, run)
        except gexc.GoogleAPICallError as e:
            raise BigQueryError(f"{what} failed: {e.message if hasattr(e, 'message') else e}") from e

    # The local BigQuery runs a job inside its jobs.insert request (BigQuery answers at once
    # and the client polls): there the request lasts as long as the job, so a statement that
    # takes longer than one request's timeout (30 s) would be cut off and sent again while it
    # still runs. Its inserts wait up to this long, within the deadline (docs/emulator.md),
    # unless a request timeout was chosen (`http_timeout`, RECONCILE_BQ_TIMEOUT_S).
    EMULATOR_INSERT_S = 300.0

    def _insert_timeout(self) -> float | None:
        chosen = self._http_timeout is not None or os.environ.get("RECONCILE_BQ_TIMEOUT_S")
        return self.EMULATOR_INSERT_S if self.emulator and not chosen else None

    def execute(self, sql: str, *, location: str | None = None, what: str = "statement",
                params: Sequence[Any] = ()) -> int | None:
        """Run a DDL/DML statement; return the number of affected rows if known. One job id
        per statement (retries re-send it), an explicit location."""
        cfg = bigquery.QueryJobConfig(query_parameters=list(params), labels=self._labels())
        location = self._where(location, sql)

        def start(job_id: str):
            return self.client.query(sql, job_config=cfg, location=location, project=self.project,
                                     job_id=job_id, job_retry=None, timeout=self._insert_timeout())

        try:
            job = self._run_job(what, self._statement_id("q", sql, params), start, location)
            return job.num_dml_affected_rows
        except gexc.GoogleAPICallError as e:
            raise BigQueryError(f"{what} failed: {getattr(e, 'message', e)}") from e

    # ------------------------------------------------------------ datasets

    def list_datasets(self) -> list[tuple[str, str]]:
        """(name, location) of every dataset in the project, all regions, one paged list.

        Hidden datasets are left out: `datasets.list(all=true)` adds anonymous query-result
        datasets (`_<hash>`) and script datasets (`_script...`), which are not in
        INFORMATION_SCHEMA (a snapshot naming one fails) and are BigQuery's, not the user's.
        A dataset whose name starts with `_` is hidden. The list is sent without `all`, and
        names starting with `_` are dropped whatever the server sends.
        https://cloud.google.com/bigquery/docs/reference/rest/v2/datasets/list,
        https://cloud.google.com/bigquery/docs/datasets-intro#hidden_datasets"""
        out = []
        hidden = 0
        for item in self._retry("list datasets", lambda: list(self.client.list_datasets(
                project=self.project, include_all=False, page_size=1000))):
            if item.dataset_id.startswith("_"):
                hidden += 1
                continue
            loc = item._properties.get("location") or "US"
            self._note(item.dataset_id, loc)
            out.append((item.dataset_id, loc))
        if hidden:
            log.debug("left out %d hidden dataset(s)", hidden)
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
            self._note(name, ds.location)
            return True
        except gexc.Conflict:
            self._locations.pop(name, None)
            return False

    def dataset_location(self, name: str) -> str | None:
        try:
            ds = self._retry("get dataset", self.client.get_dataset,
                             f"{self.project}.{ids.check_dataset(name)}")
            self._note(name, ds.location)
            return ds.location
        except gexc.NotFound:
            self._locations.pop(name, None)
            return None

    def delete_dataset(self, name: str) -> None:
        self._retry(f"delete dataset {name}", self.client.delete_dataset,
                    f"{self.project}.{ids.check_dataset(name)}", delete_contents=True,
                    not_found_ok=True)
        self._locations.pop(name, None)

    # ------------------------------------------------------------ tables

    def table_exists(self, ref: str) -> bool:
        try:
            self._retry("get table", self.client.get_table, self.table_id(ref))
            return True
        except gexc.NotFound:
            return False

    def table_created_ms(self, ref: str) -> int | None:
        """The table's creation time (ms since the epoch) as BigQuery reports it; None if
        there is no such table. Tells one table from another made later under its name."""
        try:
            created = self._retry("get table", self.client.get_table, self.table_id(ref)).created
        except gexc.NotFound:
            return None
        return None if created is None else int(created.timestamp() * 1000 + 0.5)

    def get_table(self, ref: str) -> bigquery.Table | None:
        """The table's resource (schema, num_rows, streaming buffer) in one get; None if missing."""
        try:
            return self._retry("get table", self.client.get_table, self.table_id(ref))
        except gexc.NotFound:
            return None

    def get_schema(self, ref: str) -> list[bigquery.SchemaField] | None:
        try:
            return list(self._retry("get table", self.client.get_table, self.table_id(ref)).schema)
        except gexc.NotFound:
            return None

    def create_table(self, ref: str, columns: Iterable[tuple[str, str, str]], *,
                     partition_by: str | None = None, partition_granularity: str = "DAY",
                     cluster_by: Sequence[str] = (),
                     description: str | None = None, labels: dict[str, str] | None = None,
                     expires_ms: int | None = None,
                     column_descriptions: dict[str, str] | None = None) -> bool:
        described = column_descriptions or {}
        schema = [bigquery.SchemaField(ids.check_column(n), t, mode=m, description=described.get(n))
                  for n, t, m in columns]
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
                     data: bytes | None = None, write_empty: bool = False,
                     digest: str | None = None) -> int:
        """Load a local Parquet file into an existing (empty, temporary) table. Appends only.
        LIST columns load as arrays of their element (`enable_list_inference`), not as a
        record of `list.element`: https://cloud.google.com/bigquery/docs/loading-data-cloud-storage-parquet#list_logical_type

        `data`: the file's bytes (a private copy the caller checked), sent instead of
        reading `path` again (`path` then only names it); `digest`: its sha256, if the caller
        has it already (the job id's part: not hashed twice). `write_empty`: WRITE_EMPTY, the
        job fails unless the table is empty, atomically
        (https://cloud.google.com/bigquery/docs/reference/rest/v2/Job#JobConfigurationLoad
        writeDisposition)."""
        parquet = bigquery.ParquetOptions()
        parquet.enable_list_inference = True
        cfg = bigquery.LoadJobConfig(
            source_format=bigquery.SourceFormat.PARQUET,
            write_disposition=(bigquery.WriteDisposition.WRITE_EMPTY if write_empty
                               else bigquery.WriteDisposition.WRITE_APPEND),
            create_disposition=bigquery.CreateDisposition.CREATE_NEVER,
            labels=self._labels(),
        )
        cfg.parquet_options = parquet
        location = location or self.location_of(ids.split_table_ref(ref)[0])
        if digest is None:
            digest = hashlib.sha256(data if data is not None else path.read_bytes()).hexdigest()

        def start(job_id: str):
            with (io.BytesIO(data) if data is not None else open(path, "rb")) as fh:
                return self.client.load_table_from_file(fh, self.table_id(ref), job_config=cfg,
                                                        location=location, rewind=True, job_id=job_id)

        try:
            out = self._run_job(f"load {path.name}",
                                self._statement_id("l", f"{ref}\0{digest}" + ("\0empty" if write_empty else "")), start,
                                location).output_rows
        except gexc.GoogleAPICallError as e:
            raise BigQueryError(f"load of {path.name} into {ref} failed: {getattr(e, 'message', e)}") from e
        return int(out or 0)

    def copy_table(self, src: str, dst: str, *, location: str | None = None) -> None:
        """Copy job (works across regions on BigQuery, unlike a query). Never overwrites:
        the destination must not exist (WRITE_EMPTY). Runs in the source's location unless
        told otherwise. https://cloud.google.com/bigquery/docs/managing-tables#copy-table"""
        cfg = bigquery.CopyJobConfig(
            write_disposition=bigquery.WriteDisposition.WRITE_EMPTY,
            create_disposition=bigquery.CreateDisposition.CREATE_IF_NEEDED,
            labels=self._labels(),
        )
        location = location or self.location_of(ids.split_table_ref(src)[0])

        def start(job_id: str):
            return self.client.copy_table(self.table_id(src), self.table_id(dst), job_config=cfg,
                                          location=location, job_id=job_id)

        try:
            self._run_job(f"copy {src} -> {dst}", self._statement_id("c", f"{src}\0{dst}"), start, location)
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
        location = self._where(location, sql)

        def start(job_id: str):
            return self.client.query(sql, job_config=cfg, location=location, project=self.project,
                                     job_id=job_id, job_retry=None, timeout=self._insert_timeout())

        try:
            job = self._run_job(what, self._statement_id("q", sql, params), start, location)
            st = job.dml_stats
            return DmlStats(
                affected=int(job.num_dml_affected_rows or 0),
                inserted=None if st is None else int(st.inserted_row_count or 0),
                updated=None if st is None else int(st.updated_row_count or 0),
                deleted=None if st is None else int(st.deleted_row_count or 0),
            )
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

    def routine_body(self, dataset: str, routine: str) -> str | None:
        """A routine's body (routines.get), for the reference scan where INFORMATION_SCHEMA.ROUTINES
        does not give it (the emulator elides it in `ddl`: docs/emulator.md). None: not found.
        https://cloud.google.com/bigquery/docs/reference/rest/v2/routines/get"""
        ref = f"{self.project}.{ids.check_dataset(dataset)}.{routine}"
        try:
            r = self._retry(f"get routine {dataset}.{routine}", self.client.get_routine, ref)
        except gexc.NotFound:
            return None
        return r.body

    def dataset_objects(self, dataset: str) -> dict[str, list[str]]:
        """What a relocation must carry beside tables and views, by kind (only kinds present):
        ROUTINE, MODEL (routines.list, models.list), LEGACY_SQL_VIEW, POLICY_TAG (`table.column`)
        and ROW_ACCESS_POLICY (`table.policy`), from a get of each table and view. Asked only
        for a dataset a plan may relocate: 2 requests, plus 1-2 per table.
        https://cloud.google.com/bigquery/docs/managing-datasets#delete-datasets (deleting a
        dataset deletes its routines and models), https://cloud.google.com/bigquery/docs/data-replication"""
        ds_id = f"{self.project}.{ids.check_dataset(dataset)}"
        out: dict[str, list[str]] = {}

        def listed(kind: str, fn, attr: str) -> None:
            try:
                names = sorted(getattr(x, attr) for x in self._retry(f"list {kind.lower()}s {dataset}",
                                                                       lambda: list(fn(ds_id))))
            except (gexc.NotFound, gexc.MethodNotImplemented, gexc.BadRequest):
                names = []
            if names:
                out[kind] = names

        listed("ROUTINE", self.client.list_routines, "routine_id")
        listed("MODEL", self.client.list_models, "model_id")
        for name, typ in self.list_tables(dataset):
            if typ not in ("TABLE", "VIEW", "SNAPSHOT", "CLONE", "MATERIALIZED_VIEW"):
                continue
            try:
                t = self._retry("get table", self.client.get_table, f"{ds_id}.{name}")
            except gexc.NotFound:
                continue
            view = t._properties.get("view") or {}
            if typ == "VIEW" and view.get("useLegacySql") is True:
                out.setdefault("LEGACY_SQL_VIEW", []).append(name)
            for f in _walk_fields(t._properties.get("schema", {}).get("fields", [])):
                if (f[1].get("policyTags") or {}).get("names"):
                    out.setdefault("POLICY_TAG", []).append(f"{name}.{f[0]}")
            if typ != "VIEW":
                try:
                    rap = self._retry("list row access policies", self.client._call_api, None, method="GET",
                                      path=f"/projects/{self.project}/datasets/{dataset}/tables/{name}/rowAccessPolicies")
                except (gexc.NotFound, gexc.MethodNotImplemented, gexc.BadRequest):
                    rap = {}
                for pol in (rap or {}).get("rowAccessPolicies", []):
                    pid = (pol.get("rowAccessPolicyReference") or {}).get("policyId")
                    if pid:
                        out.setdefault("ROW_ACCESS_POLICY", []).append(f"{name}.{pid}")
        return out

    def dataset_properties(self, name: str) -> dict[str, Any] | None:
        """The properties a dataset carries beside its tables (description, labels, access
        entries, default table and partition expirations, CMEK key, time travel window, case
        insensitivity, collation, rounding mode, storage billing), as its API resource holds
        them; None if it does not exist. https://cloud.google.com/bigquery/docs/reference/rest/v2/datasets"""
        try:
            ds = self._retry("get dataset", self.client.get_dataset, f"{self.project}.{ids.check_dataset(name)}")
        except gexc.NotFound:
            return None
        return {k: v for k, v in ds._properties.items() if k in DATASET_PROPERTIES}

    def create_dataset_with(self, name: str, location: str, properties: dict[str, Any]) -> bool:
        """Create a dataset in `location` with the given API properties (DATASET_PROPERTIES only)."""
        ds = bigquery.Dataset(f"{self.project}.{ids.check_dataset(name)}")
        for k, v in properties.items():
            if k in DATASET_PROPERTIES:
                ds._properties[k] = v
        ds.location = ids.check_location(location)
        try:
            self._retry(f"create dataset {name}", self.client.create_dataset, ds, exists_ok=False)
            self._note(name, ds.location)
            return True
        except gexc.Conflict:
            return False

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


# Dataset resource fields a relocation carries to the recreated dataset.
DATASET_PROPERTIES = ("description", "friendlyName", "labels", "access", "defaultTableExpirationMs",
                      "defaultPartitionExpirationMs", "defaultEncryptionConfiguration", "maxTimeTravelHours",
                      "isCaseInsensitive", "defaultCollation", "defaultRoundingMode", "storageBillingModel")


def _walk_fields(fields: list[dict], prefix: str = ""):
    for f in fields:
        name = prefix + f.get("name", "")
        yield name, f
        yield from _walk_fields(f.get("fields") or [], name + ".")


def ids_safe(text: str) -> str:
    """Letters, digits, '_' and '-' only (a job id's alphabet), at most 40 characters."""
    return "".join(c if c.isalnum() or c in "_-" else "_" for c in text)[:40]


@dataclass(frozen=True)
class DmlStats:
    affected: int
    inserted: int | None = None
    updated: int | None = None
    deleted: int | None = None
