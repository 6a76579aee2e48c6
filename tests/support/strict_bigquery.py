"""A strict BigQuery in front of the local emulator: a loopback layer that makes bqemulator
answer the way BigQuery does where the two differ.

The tests drive the real `google-cloud-bigquery` client against the real emulator; this layer
sits between them on 127.0.0.1 (a `LoopbackProxy`, so latency, faults and request counts work
the same) and enforces the rules below. Each rule names the BigQuery documentation page it
comes from; docs/bigquery.md lists them with the test that shows each.

R1  hidden datasets. `datasets.list(all=true)` also returns hidden datasets (names starting
    with `_`: anonymous query-result datasets `_<hash>`, script datasets `_script<id>`); a
    plain list does not. They are not in INFORMATION_SCHEMA: a query naming one fails.
    https://cloud.google.com/bigquery/docs/reference/rest/v2/datasets/list (`all`),
    https://cloud.google.com/bigquery/docs/datasets-intro#hidden_datasets
R2  pseudo-columns. INFORMATION_SCHEMA.COLUMNS lists `_PARTITIONTIME` (TIMESTAMP) and
    `_PARTITIONDATE` (DATE) for an ingestion-time partitioned table, with `is_hidden`,
    `is_system_defined` 'YES' and `ordinal_position` NULL.
    https://cloud.google.com/bigquery/docs/information-schema-columns
R3  rate limits on demand (`fail_next`): a job that fails with reason `rateLimitExceeded`
    (HTTP 403; "too many table update operations" is one: 5 metadata updates per table per
    10 s), `backendError` (500) or any other reason, as a job BigQuery accepted and then failed
    (its `status.errorResult`), or as an HTTP error of the request itself.
    https://cloud.google.com/bigquery/docs/error-messages,
    https://cloud.google.com/bigquery/docs/troubleshoot-quotas
R4  job ids are unique: `jobs.insert` with a job id that exists is answered 409 (`duplicate`),
    never run twice; the client then reads the existing job.
    https://cloud.google.com/bigquery/docs/running-jobs#generate-jobid,
    https://cloud.google.com/bigquery/docs/error-messages (409 duplicate)
R5  INFORMATION_SCHEMA.PARTITIONS is dataset-scoped only (a `region-x` qualifier is refused)
    and one query may read at most 1,000 tables; no query references more than 1,000 tables.
    https://cloud.google.com/bigquery/docs/information-schema-partitions,
    https://cloud.google.com/bigquery/quotas#query_jobs
R6  INFORMATION_SCHEMA.TABLE_STORAGE is region-level only (`region-x`.INFORMATION_SCHEMA...);
    a dataset qualifier is refused. The region view is answered from the region's datasets'
    PARTITIONS (total_rows, total_partitions).
    https://cloud.google.com/bigquery/docs/information-schema-table-storage
R7  locations: a query runs in one location; every dataset it references must be there
    (a job's `location`, else the first dataset's). Otherwise "Not found: Dataset ... was not
    found in location X". https://cloud.google.com/bigquery/docs/locations
R8  cross-region copy quotas: 2,000 cross-region copy jobs per project per day and 100 per
    destination table per day (`quotaExceeded`, 403); counted in `copies`.
    https://cloud.google.com/bigquery/quotas#copy_jobs
R9  non-table objects: routines are the emulator's own; models are held here (`add_model`),
    listed by `models.list`; deleting a dataset with `deleteContents` destroys both, and what
    was destroyed is recorded in `destroyed` for a test to assert nothing was lost.
    https://cloud.google.com/bigquery/docs/managing-datasets#delete-datasets
R10 cross-region dataset replication, emulated (tests/support/strict_replicas.py): ADD REPLICA,
    SET OPTIONS(primary_replica=...), DROP REPLICA answered as done DDL jobs with BigQuery's
    preconditions, the replicas kept as records and `region-x`.INFORMATION_SCHEMA.SCHEMATA_REPLICAS
    answered from them; the promotion moves the dataset in place (the emulator keeps one copy).
    https://cloud.google.com/bigquery/docs/data-replication,
    https://cloud.google.com/bigquery/docs/information-schema-schemata-replicas
R0  a failed `jobs.query` is an HTTP error (the emulator answers `jobComplete` with an
    `errors` list), so a failing read never looks like an empty result.
    https://cloud.google.com/bigquery/docs/reference/rest/v2/jobs/query

Only loopback. It is a context manager (leaving it stops its threads).
"""

from __future__ import annotations

import datetime as dt
import http.client
import json
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import sqlglot
from sqlglot import exp

from reconcile.identifiers import normalize_location, same_location
from tests.support.loopback_proxy import LoopbackProxy
from tests.support.strict_replicas import ReplicaError, Replicas, query_results

BQ = "/bigquery/v2/projects/"
DEFAULT_HIDDEN = (("_4f1d0c2b9e8a7d6c5b4a39281706f5e4d3c2b1a0", "US"), ("_script7a3e0c1d5b9f", "US"))
PROJECT_CROSS_REGION_COPIES_PER_DAY = 2000
TABLE_CROSS_REGION_COPIES_PER_DAY = 100
MAX_TABLES_PER_QUERY = 1000
_REASON_STATUS = {"rateLimitExceeded": 403, "quotaExceeded": 403, "backendError": 500,
                  "internalError": 500, "duplicate": 409, "notFound": 404, "invalidQuery": 400,
                  "invalid": 400, "accessDenied": 403}
_STATUS_NAME = {400: "INVALID_ARGUMENT", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
                409: "ALREADY_EXISTS", 500: "INTERNAL"}
_COLUMNS_REF = re.compile(r"((?:`[^`]+`\.)?`[^`]+`|[A-Za-z0-9_.\-]+)\.INFORMATION_SCHEMA\.COLUMNS\b",
                          re.IGNORECASE)
_STORAGE_REF = re.compile(r"`(region-[a-z0-9\-]+)`\.INFORMATION_SCHEMA\.TABLE_STORAGE\b", re.IGNORECASE)


def error_body(status: int, reason: str, message: str) -> bytes:
    return json.dumps({"error": {"code": status, "message": message, "status": _STATUS_NAME.get(status, "UNKNOWN"),
                                 "errors": [{"reason": reason, "message": message, "domain": "global"}]}}).encode()


@dataclass
class Failure:
    """One injected failure: `kind` is query | copy | load | any; `as_http` answers the request
    with an HTTP error instead of a job that fails."""
    kind: str
    reason: str
    message: str
    as_http: bool = False


@dataclass
class StrictStats:
    duplicates: list[str] = field(default_factory=list)         # job ids answered 409
    refused: list[str] = field(default_factory=list)            # "rule: detail"
    injected: list[str] = field(default_factory=list)           # "reason: kind job_id"
    destroyed: list[str] = field(default_factory=list)          # "ROUTINE ds.name", "MODEL ds.name"
    copies: dict[str, int] = field(default_factory=dict)        # "project"/dest table -> cross-region copies today
    job_locations: list[tuple[str, str | None]] = field(default_factory=list)  # (job kind, location sent)
    unbounded_scans: list[str] = field(default_factory=list)   # SELECTs sent without maximumBytesBilled
    loads: list[dict] = field(default_factory=list)             # configuration.load of each load job


class StrictBigQuery(LoopbackProxy):
    """The emulator as BigQuery would answer (rules R0-R10 above), on 127.0.0.1."""

    def __init__(self, upstream: str, project: str, *, hidden_datasets=DEFAULT_HIDDEN,
                 project_copy_limit: int = PROJECT_CROSS_REGION_COPIES_PER_DAY,
                 table_copy_limit: int = TABLE_CROSS_REGION_COPIES_PER_DAY, **kw):
        super().__init__(upstream, **kw)
        self.project = project
        self.hidden = dict(hidden_datasets)
        self.project_copy_limit = project_copy_limit
        self.table_copy_limit = table_copy_limit
        self.strict = StrictStats()
        self.ingestion_partitioned: set[tuple[str, str]] = set()
        self.models: dict[str, list[str]] = {}
        self._jobs: dict[str, dict | None] = {}   # job id -> its synthetic (failed) resource, or None
        self._uploads: dict[str, dict] = {}       # upload id -> failed job resource to answer
        self._failures: list[Failure] = []
        self._lose: list[str] = []                # job kinds whose next answer is lost (run, then reset)
        self._mu = threading.RLock()
        self.replicas = Replicas(self)  # R10

    # ------------------------------------------------------------------ test controls
    def reset(self) -> None:
        with self._mu:
            self._failures.clear()
            self._lose.clear()
            self.strict = StrictStats()
            self.replicas.reset()
            self.project_copy_limit = PROJECT_CROSS_REGION_COPIES_PER_DAY
            self.table_copy_limit = TABLE_CROSS_REGION_COPIES_PER_DAY

    def fail_next(self, kind: str, reason: str = "rateLimitExceeded", message: str | None = None,
                  *, times: int = 1, as_http: bool = False) -> None:
        msg = message or {"rateLimitExceeded": "Exceeded rate limits: too many table update operations "
                                               "for this table",
                          "backendError": "Backend error. Job aborted."}.get(reason, reason)
        with self._mu:
            self._failures.extend(Failure(kind, reason, msg, as_http) for _ in range(times))

    def lose_next_answer(self, times: int = 1) -> None:
        """The next job request (jobs.insert / jobs.query) runs upstream and its answer is lost
        (the connection is reset after the emulator ran it)."""
        with self._mu:
            self._lose.extend(["job"] * times)

    def add_model(self, dataset: str, model: str) -> None:
        with self._mu:
            self.models.setdefault(dataset, []).append(model)

    # ------------------------------------------------------------------ upstream helpers
    def _up(self, method: str, path: str, body: dict | None = None) -> tuple[int, Any]:
        conn = http.client.HTTPConnection(*self.upstream, timeout=60)
        try:
            data = json.dumps(body).encode() if body is not None else b""
            conn.request(method, path, body=data or None,
                         headers={"Content-Type": "application/json", "Content-Length": str(len(data))})
            r = conn.getresponse()
            raw = r.read()
            try:
                return r.status, json.loads(raw or b"{}")
            except ValueError:
                return r.status, {}
        finally:
            conn.close()

    def dataset_location(self, ds: str) -> str | None:
        if ds in self.hidden:
            return self.hidden[ds]
        status, body = self._up("GET", f"{BQ}{self.project}/datasets/{ds}")
        return body.get("location") if status == 200 else None

    def _region_datasets(self, region: str) -> list[str]:
        _, body = self._up("GET", f"{BQ}{self.project}/datasets?all=true&maxResults=10000")
        out = []
        for d in body.get("datasets", []):
            if same_location(d.get("location") or "US", region):
                out.append(d["datasetReference"]["datasetId"])
        return sorted(out)

    def _table_count(self, ds: str) -> int:
        _, body = self._up("GET", f"{BQ}{self.project}/datasets/{ds}/tables?maxResults=100000")
        return len(body.get("tables", []))

    # ------------------------------------------------------------------ the policy
    def _decide(self, method: str, path: str, kind: str):
        fault, delay = super()._decide(method, path, kind)
        if kind == "job" and "upload_id" not in path:
            with self._mu:
                if self._lose:
                    self._lose.pop()
                    return "reset_after", delay
        return fault, delay

    def _forward(self, method: str, path: str, body: bytes, in_headers):
        u = urlsplit(path)
        p, qs = u.path, parse_qs(u.query)
        try:
            answer = self._rules(method, p, qs, body)
        except _Refuse as r:
            with self._mu:
                self.strict.refused.append(f"{r.rule}: {r.message}")
            return r.status, error_body(r.status, r.reason, r.message), {"Content-Type": "application/json"}
        if answer is not None:
            return answer
        if getattr(self._local, "rewritten", None):
            body = self._local.rewritten
            self._local.rewritten = None
        status, data, headers = super()._forward(method, path, body, in_headers)
        return self._after(method, p, qs, body, status, data, headers)

    # request side ------------------------------------------------------
    def _rules(self, method, p, qs, body):
        self._local.rewritten = None
        ds_m = re.match(rf"^{BQ}([^/]+)/datasets/([^/]+)(/.*)?$", p)
        # R1: a hidden dataset exists for gets; R9: models are held here
        if ds_m and ds_m.group(2) in self.hidden and method == "GET" and not ds_m.group(3):
            ds = ds_m.group(2)
            return 200, json.dumps({"kind": "bigquery#dataset", "id": f"{self.project}:{ds}",
                                    "datasetReference": {"projectId": self.project, "datasetId": ds},
                                    "location": self.hidden[ds], "type": "DEFAULT"}).encode(), \
                {"Content-Type": "application/json"}
        if ds_m and ds_m.group(3) == "/models" and method == "GET":
            ds = ds_m.group(2)
            models = [{"modelReference": {"projectId": self.project, "datasetId": ds, "modelId": m},
                       "modelType": "LINEAR_REG"} for m in self.models.get(ds, [])]
            return 200, json.dumps({"models": models} if models else {}).encode(), \
                {"Content-Type": "application/json"}
        if ds_m and method == "DELETE" and not ds_m.group(3):
            ds = ds_m.group(2)
            contents = qs.get("deleteContents", ["false"])[0].lower() == "true"
            _, rb = self._up("GET", f"{BQ}{self.project}/datasets/{ds}/routines")
            routines = [r["routineReference"]["routineId"] for r in rb.get("routines", [])]
            models = self.models.get(ds, [])
            if not contents and (routines or models):
                raise _Refuse("R9", 400, "resourceInUse",
                              f"Dataset {self.project}:{ds} is still in use")
            with self._mu:
                self.strict.destroyed += [f"ROUTINE {ds}.{r}" for r in routines]
                self.strict.destroyed += [f"MODEL {ds}.{m}" for m in models]
                self.models.pop(ds, None)
                self.ingestion_partitioned = {t for t in self.ingestion_partitioned if t[0] != ds}
            return None
        if ds_m and ds_m.group(3) == "/tables" and method == "POST":
            t = json.loads(body or b"{}")
            tp = t.get("timePartitioning")
            if tp and not tp.get("field"):
                ref = t.get("tableReference", {})
                with self._mu:
                    self.ingestion_partitioned.add((ref.get("datasetId"), ref.get("tableId")))
            return None
        if method == "POST" and p == f"{BQ}{self.project}/queries":
            q = json.loads(body or b"{}")
            self._record_location("query", q.get("location"))
            if not q.get("maximumBytesBilled"):
                with self._mu:
                    self.strict.unbounded_scans.append(q.get("query", "")[:200])
            self._take_failure("query", None, as_http_only=True)
            sql = self._check_query(q.get("query", ""), q.get("location"), q.get("queryParameters", []))
            if sql is not None:
                q["query"] = sql
                self._local.rewritten = json.dumps(q).encode()
            return None
        job_m = re.match(rf"^(/upload)?{BQ}([^/]+)/jobs/?$", p)
        if job_m and "upload_id" in qs:
            up = self._uploads.pop(qs["upload_id"][0], None)
            if up is not None:  # the load job fails as injected: nothing is loaded
                return 200, json.dumps(up).encode(), {"Content-Type": "application/json"}
            return None
        if method == "POST" and job_m:
            upload = bool(job_m.group(1))
            if upload and qs.get("uploadType", [""])[0] == "multipart":
                job = _multipart_json(body)
            else:
                job = json.loads(body or b"{}") if body[:1] == b"{" else {}
            return self._insert(job, upload)
        get_m = re.match(rf"^{BQ}([^/]+)/(jobs|queries)/([^/?]+)$", p)
        if method == "GET" and get_m:
            synthetic = self._jobs.get(get_m.group(3))
            if synthetic is not None and "errorResult" not in synthetic["status"]:  # R10: a done DDL job
                body = query_results(synthetic) if get_m.group(2) == "queries" else json.dumps(synthetic).encode()
                return 200, body, {"Content-Type": "application/json"}
            if synthetic is not None:
                if get_m.group(2) == "queries":
                    err = synthetic["status"]["errorResult"]
                    raise _Refuse("R3", _REASON_STATUS.get(err["reason"], 400), err["reason"], err["message"])
                return 200, json.dumps(synthetic).encode(), {"Content-Type": "application/json"}
        return None

    def _record_location(self, kind: str, location: str | None) -> None:
        with self._mu:
            self.strict.job_locations.append((kind, location))

    def _take_failure(self, kind: str, job: dict | None, *, as_http_only: bool = False) -> Failure | None:
        with self._mu:
            for i, f in enumerate(self._failures):
                if f.kind in (kind, "any") and (f.as_http or not as_http_only):
                    del self._failures[i]
                    break
            else:
                f = None
        if f is None:
            return None
        jid = ((job or {}).get("jobReference") or {}).get("jobId", "")
        with self._mu:
            self.strict.injected.append(f"{f.reason}: {kind} {jid}".strip())
        if f.as_http or job is None:
            raise _Refuse("R3", _REASON_STATUS.get(f.reason, 400), f.reason, f.message)
        return f

    def _insert(self, job: dict, upload: bool):
        ref = job.get("jobReference") or {}
        jid = ref.get("jobId")
        conf = job.get("configuration") or {}
        kind = "load" if "load" in conf else "copy" if "copy" in conf else "query" if "query" in conf else "other"
        self._record_location(kind, ref.get("location"))
        if kind == "load":
            with self._mu:
                self.strict.loads.append(conf["load"])
        # R4: a job id is unique
        if jid:
            with self._mu:
                seen = jid in self._jobs
                if seen:
                    self.strict.duplicates.append(jid)
            if seen:
                raise _Refuse("R4", 409, "duplicate",
                              f"Already Exists: Job {self.project}:{ref.get('location') or 'US'}.{jid}")
        f = self._take_failure(kind, job)
        if kind == "query" and f is None and Replicas.is_replica_statement(conf["query"].get("query", "")):
            # R10: replication statements are answered here (the emulator cannot parse them).
            try:
                self.replicas.run(conf["query"]["query"], ref.get("location"))
                done = self.replicas.job_resource(job)
            except ReplicaError as e:  # a DDL job BigQuery accepted and failed
                with self._mu:
                    self.strict.refused.append(f"R10: {e.message}")
                done = self.replicas.job_resource(job, error=(e.reason, e.message))
            with self._mu:
                if jid:
                    self._jobs[jid] = done
            return 200, json.dumps(done).encode(), {"Content-Type": "application/json"}
        if kind == "query":
            q = conf["query"]
            sql = self._check_query(q.get("query", ""), ref.get("location"), q.get("queryParameters", []))
            if sql is not None and not upload:
                q["query"] = sql
                self._local.rewritten = json.dumps(job).encode()
        if kind == "copy" and f is None:
            self._check_copy(conf["copy"], ref.get("location"))
        with self._mu:
            if jid:
                self._jobs[jid] = None
        if f is not None:
            now = str(int(time.time() * 1000))
            failed = {"kind": "bigquery#job", "id": f"{self.project}:{ref.get('location') or 'US'}.{jid}",
                      "jobReference": ref, "configuration": conf,
                      "status": {"state": "DONE", "errorResult": {"reason": f.reason, "message": f.message},
                                 "errors": [{"reason": f.reason, "message": f.message}]},
                      "statistics": {"creationTime": now, "startTime": now, "endTime": now}}
            with self._mu:
                if jid:
                    self._jobs[jid] = failed
            if upload:
                self._local.pending_upload_failure = failed
                return None  # the upload session is opened upstream; its last request is answered failed
            return 200, json.dumps(failed).encode(), {"Content-Type": "application/json"}
        return None

    def _check_copy(self, copy: dict, location: str | None) -> None:
        dst = copy.get("destinationTable") or {}
        srcs = copy.get("sourceTables") or ([copy["sourceTable"]] if copy.get("sourceTable") else [])
        dloc = self.dataset_location(dst.get("datasetId", ""))
        for s_ in srcs:  # R7: a copy job runs where its source is
            sloc = self.dataset_location(s_.get("datasetId", ""))
            if location and sloc and not same_location(sloc, location):
                raise _Refuse("R7", 404, "notFound", f"Not found: Dataset {self.project}:{s_.get('datasetId')} "
                              f"was not found in location {normalize_location(location)}")
        cross = any(dloc and (sl := self.dataset_location(s.get("datasetId", ""))) and not same_location(sl, dloc)
                    for s in srcs)
        if not cross:
            return
        key = f"{dst.get('datasetId')}.{dst.get('tableId')}"
        with self._mu:
            proj = self.strict.copies.get("project", 0)
            tab = self.strict.copies.get(key, 0)
            if proj >= self.project_copy_limit:
                raise _Refuse("R8", 403, "quotaExceeded", "Quota exceeded: Your project exceeded quota for "
                              f"cross-region copy jobs per project per day ({self.project_copy_limit})")
            if tab >= self.table_copy_limit:
                raise _Refuse("R8", 403, "quotaExceeded", f"Quota exceeded: {key} exceeded quota for "
                              f"cross-region copy jobs per destination table per day ({self.table_copy_limit})")
            self.strict.copies["project"] = proj + 1
            self.strict.copies[key] = tab + 1

    def _check_query(self, sql: str, location: str | None, params: list) -> str | None:
        """R1, R5, R6, R7 on one query's text; returns a rewritten text (R2, R6) or None."""
        try:
            trees = [t for t in sqlglot.parse(sql, read="bigquery") if t is not None]
        except sqlglot.errors.ParseError:
            return None  # the emulator answers a statement it cannot parse
        ctes = {c.alias_or_name for t in trees for c in t.find_all(exp.CTE)}
        datasets: list[str] = []
        tables: set[str] = set()
        rewritten = sql
        for t in trees:
            for tb in t.find_all(exp.Table):
                db, name = tb.db, tb.name
                if not db:
                    continue
                upper = name.upper()
                if db.lower().startswith("region-"):
                    if location and not same_location(db[len("region-"):], location):
                        raise _Refuse("R7", 404, "notFound", f"Not found: {db} in location {location}")
                    if upper == "INFORMATION_SCHEMA.PARTITIONS":
                        raise _Refuse("R5", 400, "invalidQuery", "INFORMATION_SCHEMA.PARTITIONS must be "
                                      "qualified with a dataset, not a region")
                    continue
                if tb.catalog and tb.catalog != self.project:
                    continue
                if db in self.hidden:
                    raise _Refuse("R1", 404, "notFound", f"Not found: Dataset {self.project}:{db} "
                                  "(hidden datasets are not in INFORMATION_SCHEMA)")
                datasets.append(db)
                if upper == "INFORMATION_SCHEMA.TABLE_STORAGE":
                    raise _Refuse("R6", 400, "invalidQuery", "INFORMATION_SCHEMA.TABLE_STORAGE must be "
                                  "qualified with a region (region-level only)")
                if upper == "INFORMATION_SCHEMA.PARTITIONS":
                    named = _array_param_len(params) if re.search(r"table_name\s+IN\s+UNNEST\s*\(@",
                                                                  sql, re.I) else None
                    n = named if named is not None else self._table_count(db)
                    for i in range(n):
                        tables.add(f"{db}.#p{i}")
                elif not upper.startswith("INFORMATION_SCHEMA.") and name not in ctes:
                    tables.add(f"{db}.{name}")
        if len(tables) > MAX_TABLES_PER_QUERY:
            raise _Refuse("R5", 400, "invalidQuery", f"Query attempted to read too many tables "
                          f"({len(tables)} > {MAX_TABLES_PER_QUERY})")
        # R7: one location for every dataset the query references
        where = location
        for ds in dict.fromkeys(datasets):
            loc = self.dataset_location(ds)
            if loc is None:
                continue
            if where is None:
                where = loc
            elif not same_location(loc, where):
                raise _Refuse("R7", 404, "notFound", f"Not found: Dataset {self.project}:{ds} was not "
                              f"found in location {normalize_location(where)}")
        # R2: pseudo-columns of ingestion-time partitioned tables
        if self.ingestion_partitioned and "INFORMATION_SCHEMA.COLUMNS" in sql.upper():
            rewritten = _COLUMNS_REF.sub(lambda m: self._columns_with_pseudo(m.group(0), m.group(1)), rewritten)
        # R6: the region-level TABLE_STORAGE, answered from the region's PARTITIONS
        rewritten = _STORAGE_REF.sub(lambda m: self._table_storage(m.group(1)[len("region-"):]), rewritten)
        # R10: the region-level SCHEMATA_REPLICAS, answered from the replica records
        rewritten = self.replicas.rewrite(rewritten)
        return rewritten if rewritten != sql else None

    def _columns_with_pseudo(self, whole: str, qualifier: str) -> str:
        ds = qualifier.replace("`", "").split(".")[-1]
        tabs = sorted(t for d, t in self.ingestion_partitioned if d == ds)
        if not tabs:
            return whole
        rows = []
        for t in tabs:
            for col, typ in (("TIME", "TIMESTAMP"), ("DATE", "DATE")):
                rows.append(f"SELECT '{self.project}' AS table_catalog, '{ds}' AS table_schema, '{t}' AS table_name, "
                            f"CONCAT('_PARTITION', '{col}') AS column_name, CAST(NULL AS INT64) AS ordinal_position, "
                            f"'YES' AS is_nullable, '{typ}' AS data_type, 'NEVER' AS is_generated, "
                            "CAST(NULL AS STRING) AS generation_expression, CAST(NULL AS STRING) AS is_stored, "
                            "'YES' AS is_hidden, CAST(NULL AS STRING) AS is_updatable, 'YES' AS is_system_defined, "
                            f"'{'YES' if col == 'TIME' else 'NO'}' AS is_partitioning_column, "
                            "CAST(NULL AS INT64) AS clustering_ordinal_position, "
                            "CAST(NULL AS STRING) AS collation_name")
        cols = ("table_catalog, table_schema, table_name, column_name, ordinal_position, is_nullable, data_type, "
                "is_generated, generation_expression, is_stored, is_hidden, is_updatable, is_system_defined, "
                "is_partitioning_column, clustering_ordinal_position, collation_name")
        return f"(SELECT {cols} FROM {whole} UNION ALL " + " UNION ALL ".join(rows) + ")"

    def _table_storage(self, region: str) -> str:
        parts = [f"SELECT table_catalog, table_schema, table_name, SUM(total_rows) AS total_rows, "
                 f"COUNT(*) AS total_partitions, FALSE AS deleted "
                 f"FROM `{self.project}`.`{ds}`.INFORMATION_SCHEMA.PARTITIONS "
                 f"GROUP BY table_catalog, table_schema, table_name"
                 for ds in self._region_datasets(region)]
        if not parts:
            parts = ["SELECT CAST(NULL AS STRING) AS table_catalog, CAST(NULL AS STRING) AS table_schema, "
                     "CAST(NULL AS STRING) AS table_name, CAST(NULL AS INT64) AS total_rows, "
                     "CAST(NULL AS INT64) AS total_partitions, FALSE AS deleted FROM UNNEST([1]) WHERE FALSE"]
        return "(" + " UNION ALL ".join(f"({x})" for x in parts) + ")"

    # answer side ------------------------------------------------------
    def _after(self, method, p, qs, body, status, data, headers):
        if method == "GET" and re.match(rf"^{BQ}[^/]+/datasets/?$", p) and status == 200:
            if qs.get("all", ["false"])[0].lower() == "true" and self.hidden:  # R1
                listing = json.loads(data or b"{}")
                listing.setdefault("datasets", [])
                for name, loc in sorted(self.hidden.items()):
                    listing["datasets"].append({
                        "kind": "bigquery#dataset", "id": f"{self.project}:{name}", "location": loc,
                        "datasetReference": {"projectId": self.project, "datasetId": name}})
                data = json.dumps(listing).encode()
        if method == "POST" and p == f"{BQ}{self.project}/queries" and status == 200:  # R0
            r = json.loads(data or b"{}")
            if r.get("jobComplete") and r.get("errors") and not r.get("rows"):
                msg = "; ".join(str(e.get("message", e)) for e in r["errors"])
                reason = (r["errors"][0] or {}).get("reason") or "invalidQuery"
                st = 404 if "not found" in msg.lower() else 400
                return st, error_body(st, reason if st == 400 else "notFound", msg), \
                    {"Content-Type": "application/json"}
        pending = getattr(self._local, "pending_upload_failure", None)
        if pending is not None and method == "POST" and p.startswith("/upload"):
            self._local.pending_upload_failure = None
            loc = next((v for k, v in headers.items() if k.lower() == "location"), "")
            uid = parse_qs(urlsplit(loc).query).get("upload_id", [None])[0]
            if uid:
                self._uploads[uid] = pending
        return status, data, headers


class _Refuse(Exception):
    def __init__(self, rule: str, status: int, reason: str, message: str):
        super().__init__(message)
        self.rule, self.status, self.reason, self.message = rule, status, reason, message


def _array_param_len(params: list) -> int | None:
    for prm in params:
        vals = ((prm.get("parameterValue") or {}).get("arrayValues"))
        if vals is not None:
            return len(vals)
    return None


def _multipart_json(body: bytes) -> dict:
    m = re.search(rb"\r?\n\r?\n(\{.*?\})\r?\n--", body, re.S)
    try:
        return json.loads(m.group(1)) if m else {}
    except ValueError:
        return {}


def today() -> str:
    return dt.date.today().isoformat()
