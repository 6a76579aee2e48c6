"""The latency model's replay mode (tests/support/loopback_proxy.py), with the real client.

Requests the real google-cloud-bigquery client sends to the local BigQuery (a jobs.query
with a parameter, a list of datasets, a get of a table, a query whose rows come in pages)
are recorded through the proxy, then replayed through a proxy whose upstream is a closed
loopback port: every answer comes from the recording, equal to the recorded one, each
after at least the model's latency. A request that is not in the recording (another
table, the same query with another parameter value) is forwarded to the emulator and
counted as unrecorded. The benchmark's `plan_replay_latency_model` figure rests on this.
"""

from __future__ import annotations

import http.client
import socket
import threading
import time
from urllib.parse import urlsplit

import pytest
from google.cloud import bigquery

from reconcile.bq.adapter import local_client
from tests.support.loopback_proxy import LoopbackProxy, Recording, replay_key

pytestmark = pytest.mark.integration

PROJECT = "cbi-v14"
API, JOB = 0.05, 0.08  # small latencies: the test asserts lower bounds only
PARAM_SQL = "SELECT @n * 2 AS doubled"
PAGED_SQL = "SELECT x FROM UNNEST(GENERATE_ARRAY(1, 25)) AS x ORDER BY x"


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released): requests to it are refused."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def workload(client: bigquery.Client, ds: str) -> dict:
    """The calls recorded and replayed; their results as plain values."""
    cfg = bigquery.QueryJobConfig(query_parameters=[bigquery.ScalarQueryParameter("n", "INT64", 21)])
    doubled = [r["doubled"] for r in client.query_and_wait(PARAM_SQL, job_config=cfg, location="US")]
    datasets = sorted(d.dataset_id for d in client.list_datasets())
    table = client.get_table(f"{PROJECT}.{ds}.t1")
    rows = client.query_and_wait(PAGED_SQL, location="US", page_size=10)
    paged = [r["x"] for r in rows]
    return {"doubled": doubled, "datasets": datasets,
            "schema": [(f.name, f.field_type, f.mode) for f in table.schema], "paged": paged}


@pytest.fixture
def recorded(emulator, ds_prefix):
    """A dataset with two tables, and the workload recorded through the proxy (no latency)."""
    admin = local_client(PROJECT, emulator.endpoint)
    ds = f"{ds_prefix}replay"
    d = bigquery.Dataset(f"{PROJECT}.{ds}")
    d.location = "US"
    admin.create_dataset(d)
    for name in ("t1", "t2"):
        admin.create_table(bigquery.Table(f"{PROJECT}.{ds}.{name}", schema=[
            bigquery.SchemaField("date", "DATE"), bigquery.SchemaField("vix_close", "FLOAT64")]))
    rec = Recording()
    with LoopbackProxy(emulator.endpoint, record_to=rec) as px:
        results = workload(local_client(PROJECT, px.endpoint), ds)
        sent = px.stats.requests
    return ds, rec, results, sent


def test_replay_answers_every_recorded_request_without_the_emulator(recorded):
    ds, rec, results, sent = recorded
    assert results["doubled"] == [42] and results["paged"] == list(range(1, 26))
    assert ds in results["datasets"]
    assert len(rec) == sent
    # The paged query was answered in more than one request (jobs.query, then pages).
    pages = [k for k in rec.keys() if "/queries/" in k[1] and "pageToken" in k[1]]
    assert pages, [k[1] for k in rec.keys()]

    with LoopbackProxy(f"http://127.0.0.1:{closed_port()}", api_latency=API, job_latency=JOB,
                       replay=rec) as px:
        t0 = time.monotonic()
        again = workload(local_client(PROJECT, px.endpoint), ds)
        wall = time.monotonic() - t0
        stats = px.stats
        assert again == results
        assert stats.replayed == sent and stats.unrecorded == 0, stats.unrecorded_log
        assert stats.by_kind.get("job", 0) == 2  # the two jobs.query
        # Each request was held for its latency, one after another.
        assert stats.added_latency_s == pytest.approx(2 * JOB + (sent - 2) * API)
        assert wall >= stats.added_latency_s

        # The raw answer is the recorded one, byte for byte; the upstream is really closed:
        # a request not in the recording gets the proxy's 502.
        key = next(k for k in rec.keys() if k[0] == "GET" and urlsplit(k[1]).path.endswith("/tables/t1"))
        conn = http.client.HTTPConnection("127.0.0.1", px.port, timeout=30)
        t0 = time.monotonic()
        conn.request("GET", key[1])
        r = conn.getresponse()
        body = r.read()
        assert time.monotonic() - t0 >= API
        assert (r.status, body) == (rec.answers(key)[0].status, rec.answers(key)[0].body)
        conn.request("GET", key[1].replace("/tables/t1", "/tables/t2"))
        r = conn.getresponse()
        r.read()
        conn.close()
        assert r.status == 502
        assert stats.replayed == sent + 1 and stats.unrecorded == 1
        assert stats.unrecorded_log == [f"GET {urlsplit(key[1]).path.replace('/tables/t1', '/tables/t2')}"]


def test_random_ids_are_not_part_of_the_key():
    body = (b'{"query": "SELECT 1", "requestId": "abc", "useLegacySql": false, '
            b'"queryParameters": [{"name": "n"}]}')
    other = b'{"useLegacySql": false, "requestId": "xyz", "query": "SELECT 1", "queryParameters": [{"name": "n"}]}'
    path = "/bigquery/v2/projects/p/queries"
    assert replay_key("POST", path, body) == replay_key("POST", path, other)
    assert replay_key("POST", path, body) != replay_key("POST", path, body.replace(b"SELECT 1", b"SELECT 2"))
    insert = b'{"jobReference": {"projectId": "p", "jobId": "j1", "location": "US"}, "configuration": {}}'
    assert replay_key("POST", path, insert) == replay_key("POST", path, insert.replace(b"j1", b"j2"))
    assert replay_key("POST", path, insert) != replay_key("POST", path, insert.replace(b"US", b"EU"))
    q = "/bigquery/v2/projects/p/queries/j1?maxResults=10&timeoutMs=9000&location=US"
    assert replay_key("GET", q, b"") == replay_key("GET", q.replace("9000", "8000"), b"")
    assert replay_key("GET", q, b"") != replay_key("GET", q.replace("j1", "j2"), b"")


def test_unrecorded_requests_are_forwarded_and_counted(emulator, recorded):
    ds, rec, results, _ = recorded
    with LoopbackProxy(emulator.endpoint, api_latency=API, job_latency=JOB, replay=rec) as px:
        client = local_client(PROJECT, px.endpoint)
        t0 = time.monotonic()
        t2 = client.get_table(f"{PROJECT}.{ds}.t2")  # not recorded
        assert time.monotonic() - t0 >= API
        assert [f.name for f in t2.schema] == ["date", "vix_close"]
        cfg = bigquery.QueryJobConfig(query_parameters=[bigquery.ScalarQueryParameter("n", "INT64", 5)])
        # Same text, another parameter value: another key, answered by the emulator.
        assert [r["doubled"] for r in client.query_and_wait(PARAM_SQL, job_config=cfg, location="US")] == [10]
        unrecorded = px.stats.unrecorded
        assert px.stats.replayed == 0 and unrecorded == px.stats.requests >= 2
        assert px.stats.unrecorded_log[0].endswith(f"/datasets/{ds}/tables/t2")
        assert px.stats.unrecorded_log[1].endswith("/queries")
        # A recorded one through the same proxy is still served from the recording.
        assert client.get_table(f"{PROJECT}.{ds}.t1").schema == [
            bigquery.SchemaField("date", "DATE"), bigquery.SchemaField("vix_close", "FLOAT64")]
        assert px.stats.replayed == 1 and px.stats.unrecorded == unrecorded


def test_concurrent_replay(recorded):
    ds, rec, results, _ = recorded
    out: list[list[str]] = []
    errors: list[BaseException] = []

    def one() -> None:
        try:
            out.append(sorted(d.dataset_id for d in local_client(PROJECT, px.endpoint).list_datasets()))
        except BaseException as e:  # noqa: BLE001 - reported by the assertion below
            errors.append(e)

    with LoopbackProxy(f"http://127.0.0.1:{closed_port()}", api_latency=API, replay=rec) as px:
        threads = [threading.Thread(target=one) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert not errors, errors
        assert out == [results["datasets"]] * 8
        assert px.stats.replayed == px.stats.requests >= 8 and px.stats.unrecorded == 0


def test_record_and_replay_are_exclusive():
    rec = Recording()
    with pytest.raises(ValueError, match="exclusive"):
        LoopbackProxy("http://127.0.0.1:1", record_to=rec, replay=rec)
