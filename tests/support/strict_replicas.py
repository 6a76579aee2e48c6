"""R10 of the strict harness: cross-region dataset replication, emulated.

bqemulator has no replication: `ALTER SCHEMA ... ADD REPLICA` is a parser error there. The
harness answers the three statements of BigQuery's dataset replication itself and keeps the
replicas as records, as https://cloud.google.com/bigquery/docs/data-replication describes:

- `ALTER SCHEMA d ADD REPLICA \\`r\\` OPTIONS(location='x')`: the dataset must exist (404), x must
  not be a location d already has a replica in (409; the primary is one). Recorded as a
  secondary replica (`replica_primary_assigned` FALSE). Its first full sync completes after
  `sync_reads` reads of SCHEMATA_REPLICAS (0 by default: at once), then `creation_complete` TRUE.
- `ALTER SCHEMA d SET OPTIONS(primary_replica='x')`: x must be a replica of d whose creation is
  complete (400 otherwise). The primary assignment moves to x; the dataset now lives in x.
- `ALTER SCHEMA d DROP REPLICA \\`r\\``: r must be a replica of d (404) and not its primary (400).
  The record is dropped.
- `region-x`.INFORMATION_SCHEMA.SCHEMATA_REPLICAS is answered from the records, with the view's
  documented columns (https://cloud.google.com/bigquery/docs/information-schema-schemata-replicas):
  every replica of each dataset that has a replica in region x (the page says `replication_time`
  "is only visible in the secondary region", so a region's view lists the other replicas too).
  A dataset never replicated has no rows.

The emulation of the promotion, honestly: the emulator keeps one copy of a dataset, so "the
dataset now lives in x" is done by changing the dataset's `location` in place (a datasets.patch
sent straight to the emulator, which accepts it; BigQuery itself never changes a dataset's
location that way). Tables, views, routines, models and properties therefore stay as they are,
which is what replication promises; what is NOT emulated: the copy's transfer time and cost, the
asynchronous lag (beyond `sync_reads`), the read-only secondary (queries in the old location
between promotion and DROP REPLICA are refused by R7 here, allowed on BigQuery), and the
replication limits (100,000 tables, policy tags), which the planner checks itself.

The statements are recognised by their own regular expressions, independently of the code
under test's checks (reconcile.bq.sqltext.check_replica_statement); every statement answered is
kept in `statements` as (step, text, job location) for a test to compare with the templates.
"""

from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import dataclass

from reconcile.identifiers import normalize_location, same_location

_NAME = r"`?(?:([A-Za-z0-9_-]+)`?\.`?)?([A-Za-z0-9_]+)`?"
_ADD = re.compile(rf"^\s*ALTER\s+SCHEMA\s+{_NAME}\s+ADD\s+REPLICA\s+`?([A-Za-z0-9_-]+)`?\s+"
                  r"OPTIONS\s*\(\s*location\s*=\s*'([A-Za-z0-9_-]+)'\s*\)\s*;?\s*$", re.I)
_PROMOTE = re.compile(rf"^\s*ALTER\s+SCHEMA\s+{_NAME}\s+SET\s+OPTIONS\s*\(\s*primary_replica\s*=\s*"
                      r"'([A-Za-z0-9_-]+)'\s*\)\s*;?\s*$", re.I)
_DROP = re.compile(rf"^\s*ALTER\s+SCHEMA\s+{_NAME}\s+DROP\s+REPLICA\s+`?([A-Za-z0-9_-]+)`?\s*;?\s*$", re.I)
_ANY = re.compile(r"^\s*ALTER\s+SCHEMA\b.*\b(REPLICA|primary_replica)\b", re.I | re.S)
VIEW_REF = re.compile(r"`(region-[a-z0-9\-]+)`\.INFORMATION_SCHEMA\.SCHEMATA_REPLICAS\b", re.I)
_COLUMNS = (("catalog_name", "STRING"), ("schema_name", "STRING"), ("replica_name", "STRING"),
            ("location", "STRING"), ("replica_primary_assigned", "BOOL"),
            ("replica_primary_assignment_complete", "BOOL"), ("creation_time", "TIMESTAMP"),
            ("creation_complete", "BOOL"), ("replication_time", "TIMESTAMP"))


class ReplicaError(Exception):
    """A refused replication statement: answered as a DDL job that failed with this reason."""

    def __init__(self, status: int, reason: str, message: str):
        super().__init__(message)
        self.status, self.reason, self.message = status, reason, message


@dataclass
class Replica:
    name: str
    location: str
    primary: bool
    created: float
    reads_left: int  # SCHEMATA_REPLICAS reads still answering creation_complete FALSE

    @property
    def complete(self) -> bool:
        return self.primary or self.reads_left <= 0


class Replicas:
    """The replica records of the harness and the answers to the replication statements."""

    def __init__(self, harness):
        self.h = harness
        self.sync_reads = 0
        self.records: dict[str, list[Replica]] = {}
        self.statements: list[tuple[str, str, str | None]] = []
        self._mu = threading.RLock()

    def reset(self) -> None:
        with self._mu:
            self.sync_reads = 0
            self.records.clear()
            self.statements.clear()

    @staticmethod
    def is_replica_statement(sql: str) -> bool:
        return bool(_ANY.match(sql))

    def run(self, sql: str, location: str | None) -> None:
        """Carry out one replication statement (raise ReplicaError as BigQuery would refuse it;
        the harness answers a job that failed with it)."""
        for step, rx, fn in (("add_replica", _ADD, self._add), ("promote", _PROMOTE, self._promote),
                             ("drop_replica", _DROP, self._drop)):
            m = rx.match(sql)
            if m:
                project, ds = m.group(1) or self.h.project, m.group(2)
                if project != self.h.project:
                    raise ReplicaError(404, "notFound", f"Not found: Project {project}")
                with self._mu:
                    fn(ds, *m.groups()[2:])
                    self.statements.append((step, sql, location))
                return
        raise ReplicaError(400, "invalidQuery", f"Syntax error in replication statement: {sql[:120]}")

    def _replicas(self, ds: str) -> list[Replica]:
        loc = self.h.dataset_location(ds)
        if loc is None:
            raise ReplicaError(404, "notFound", f"Not found: Dataset {self.h.project}:{ds}")
        # Before any replica is added the dataset is its own (primary) replica.
        return self.records.setdefault(ds, [Replica(normalize_location(loc), loc, True, time.time(), 0)])

    def _add(self, ds: str, name: str, location: str) -> None:
        reps = self._replicas(ds)
        if any(same_location(r.location, location) for r in reps):
            raise ReplicaError(409, "duplicate", f"Already Exists: a replica of {ds} in {location}")
        reps.append(Replica(name, location, False, time.time(), self.sync_reads))

    def _promote(self, ds: str, location: str) -> None:
        reps = self._replicas(ds)
        new = next((r for r in reps if same_location(r.location, location)), None)
        if new is None:
            raise ReplicaError(400, "invalidQuery", f"Dataset {ds} has no replica in {location}")
        if not new.complete:
            raise ReplicaError(400, "invalidQuery", f"The replica of {ds} in {location} is not complete yet")
        status, body = self.h._up("PATCH", f"/bigquery/v2/projects/{self.h.project}/datasets/{ds}",
                                  {"location": new.location})
        if status != 200 or not same_location(body.get("location"), new.location):
            raise ReplicaError(500, "internalError", f"emulation: the emulator did not move {ds}: {status}")
        for r in reps:
            r.primary = r is new

    def _drop(self, ds: str, name: str) -> None:
        reps = self._replicas(ds)
        r = next((r for r in reps if r.name.lower() == name.lower()
                  or same_location(r.location, name)), None)
        if r is None:
            raise ReplicaError(404, "notFound", f"Not found: replica {name} of {ds}")
        if r.primary:
            raise ReplicaError(400, "invalidQuery", f"{name} is the primary replica of {ds}: promote another first")
        reps.remove(r)

    def rewrite(self, sql: str) -> str:
        """`region-x`.INFORMATION_SCHEMA.SCHEMATA_REPLICAS as an inline table of the records."""
        return VIEW_REF.sub(lambda m: self._view(m.group(1)[len("region-"):]), sql)

    def _view(self, region: str) -> str:
        rows = []
        with self._mu:
            for ds, reps in sorted(self.records.items()):
                if not any(same_location(r.location, region) for r in reps):
                    continue
                for r in reps:
                    complete = r.complete
                    if not r.primary and r.reads_left > 0:
                        r.reads_left -= 1
                    ts = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(r.created))
                    vals = (self.h.project, ds, r.name, r.location, r.primary, r.primary, ts, complete,
                            ts if complete else None)
                    rows.append("SELECT " + ", ".join(
                        f"{_literal(v, t)} AS {c}" for v, (c, t) in zip(vals, _COLUMNS)))
        if not rows:
            rows = ["SELECT " + ", ".join(f"CAST(NULL AS {t}) AS {c}" for c, t in _COLUMNS)
                    + " FROM UNNEST([1]) WHERE FALSE"]
        return "(" + " UNION ALL ".join(f"({x})" for x in rows) + ")"

    def job_resource(self, job: dict, error: tuple[str, str] | None = None) -> dict:
        """A done DDL job (what BigQuery answers for an ALTER SCHEMA): successful, or failed
        with `error` (reason, message) as its errorResult."""
        now = str(int(time.time() * 1000))
        ref = job.get("jobReference") or {}
        status: dict = {"state": "DONE"}
        if error is not None:
            status["errorResult"] = {"reason": error[0], "message": error[1]}
            status["errors"] = [dict(status["errorResult"])]
        return {"kind": "bigquery#job", "id": f"{self.h.project}:{ref.get('location') or 'US'}.{ref.get('jobId')}",
                "jobReference": ref, "configuration": job.get("configuration") or {}, "status": status,
                "statistics": {"creationTime": now, "startTime": now, "endTime": now,
                               "query": {"statementType": "ALTER_SCHEMA", "totalBytesProcessed": "0"}}}


def query_results(job: dict) -> bytes:
    """jobs.getQueryResults of a done DDL job: complete, no rows."""
    return json.dumps({"kind": "bigquery#getQueryResultsResponse", "jobReference": job["jobReference"],
                       "jobComplete": True, "totalRows": "0", "schema": {"fields": []},
                       "totalBytesProcessed": "0", "cacheHit": False}).encode()


def _literal(v, typ: str) -> str:
    if v is None:
        return f"CAST(NULL AS {typ})"
    if typ == "BOOL":
        return "TRUE" if v else "FALSE"
    if typ == "TIMESTAMP":
        return f"TIMESTAMP '{v}'"
    return "'" + str(v).replace("\\", "\\\\").replace("'", "\\'") + "'"
