"""Reading ahead (reconcile.snapshot.readahead), against the local BigQuery: given the record
of an earlier read, the observation queries go out in the first round, and the snapshot
is the one a read without the record gives, in one round of queries instead of two on a
warehouse that did not change; a record that no longer fits the warehouse (a column
added, a newer key range, a table that does not exist, another warehouse's) costs
requests, never a different snapshot; the record file is the project's, and a record
that cannot be read or written is no record.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from reconcile.bq.adapter import Adapter, local_client
from reconcile.bq.sqltext import qtable, render_sql
from reconcile.snapshot import readahead
from reconcile.snapshot.model import ColumnState
from reconcile.snapshot.read import read_remembering, read_snapshot
from tests.conftest import PROJECT
from tests.integration.test_snapshot import NOW, build_warehouse
from tests.snapshot.test_two_rounds import Timeline, spec
from tests.support.loopback_proxy import LoopbackProxy

pytestmark = pytest.mark.integration

T1 = dt.datetime(2025, 11, 18, 10, 0, tzinfo=dt.timezone.utc)


def warehouse(adapter: Adapter, p: str) -> None:
    """build_warehouse (two regions, expectations, a load target with a ledger) plus the key
    range of the ledger's latest file: every kind of observation."""
    build_warehouse(adapter, p)
    adapter.execute(render_sql("ops/load_key_ranges.sql", table=qtable(adapter.project, f"{p}ops", "load_key_ranges")),
                    location="us-central1")
    add_range(adapter, p, "2000-01-03", "2024-12-31", T1)


def add_range(adapter: Adapter, p: str, lo: str, hi: str, at: dt.datetime) -> None:
    adapter.insert_rows_dml(f"{p}ops.load_key_ranges", [
        {"table_ref": f"{p}market.prices", "source": "staging/yahoo.parquet", "content_hash": "def456",
         "key_column": "date", "key_min": lo, "key_max": hi, "key_rows": 4, "recorded_at": at,
         "run_id": "run-2"}], location="us-central1")


def same(a, b) -> bool:
    """The same snapshot, whatever the number of requests it took."""
    return a.model_copy(update={"requests": 0}) == b.model_copy(update={"requests": 0})


def read(endpoint: str, desired, ahead=None, parallelism: int = 12):
    adapter = Adapter(local_client(PROJECT, endpoint), PROJECT, emulator=True)
    timeline = Timeline(adapter)
    s = read_snapshot(adapter, desired, now=NOW, parallelism=parallelism, ahead=ahead)
    return s, timeline.rounds()


def test_read_ahead_is_one_round_and_the_same_snapshot(emulator, ds_prefix: str, project_root: Path) -> None:
    p = ds_prefix
    desired = spec(project_root, p)
    warehouse(Adapter(local_client(PROJECT, emulator.endpoint), PROJECT, emulator=True), p)
    with LoopbackProxy(emulator.endpoint, job_latency=0.3) as proxy:
        cold, cold_rounds = read(proxy.endpoint, desired)
        seen = readahead.seen_in(cold, desired)
        warm, warm_rounds = read(proxy.endpoint, desired, ahead=seen)
        seq, _ = read(proxy.endpoint, desired, ahead=seen, parallelism=1)

    assert warm == cold == seq
    # what the read ahead answers is there: a load target's key range, expectations in two regions
    assert warm.load_checks[f"{p}market.prices"]["load_range:staging/yahoo.parquet"] == 4
    assert warm.observations[f"{p}market.prices"]["distinct:symbol"] == 3
    assert warm.observations[f"{p}eu.events"] == {"rows": 2}
    # the list and two rounds without the record; the list and one round with it, in as many
    # requests (the observations, one query per region, sent ahead instead of after)
    assert (cold_rounds, warm_rounds) == (3, 2)
    assert warm.requests == cold.requests == seq.requests
    # the record holds the observed tables' shape and the load targets' ledger, no measured value
    assert set(seen.types) == {f"{p}market.prices", f"{p}market.weights_a", f"{p}eu.events"}
    assert {e.content_hash for e in seen.ledger} == {"abc123", "def456"}
    assert "distinct" not in json.dumps(seen.columns, default=str)


def test_a_record_that_no_longer_fits_costs_requests_never_a_different_snapshot(
        emulator, ds_prefix: str, project_root: Path) -> None:
    p = ds_prefix
    desired = spec(project_root, p)
    ad = Adapter(local_client(PROJECT, emulator.endpoint), PROJECT, emulator=True)
    warehouse(ad, p)
    seen = readahead.seen_in(read(emulator.endpoint, desired)[0], desired)

    # the warehouse changes under the record: a column and a row, a newer key range
    ad.execute(f"ALTER TABLE {ad.q(f'{p}market.prices')} ADD COLUMN note STRING", location="us-central1")
    ad.execute(f"INSERT INTO {ad.q(f'{p}market.prices')} (date, symbol, close, regime) "
               "VALUES (DATE '2020-01-02', 'ZM', 300.0, 'allhistory')", location="us-central1")
    add_range(ad, p, "2010-01-01", "2024-12-31", T1 + dt.timedelta(hours=2))
    plain, _ = read(emulator.endpoint, desired)
    stale, _ = read(emulator.endpoint, desired, ahead=seen)
    assert same(stale, plain)
    assert plain.load_checks[f"{p}market.prices"]["load_range:staging/yahoo.parquet"] == 4  # 2010..2024
    assert plain.observations[f"{p}market.prices"]["rows"] == 6
    # us-central1's observation query differs (a column, a range), EU's is the same: one more request
    assert stale.requests == plain.requests + 1

    # a record of tables that do not exist (another warehouse's): its queries fail, unseen
    other = readahead.Seen(project=PROJECT, locations={f"{p}market": "us-central1"},
                           types={f"{p}market.nope": "TABLE", f"{p}market.prices": "TABLE"},
                           columns={f"{p}market.nope": [ColumnState(name="x", type="INT64")],
                                    f"{p}market.prices": None})
    elsewhere, _ = read(emulator.endpoint, desired, ahead=other)
    assert same(elsewhere, plain)
    assert elsewhere.requests == plain.requests + 1
    # another project's record is not read ahead at all
    foreign = readahead.Seen(project="other-project", locations=seen.locations, types=seen.types,
                             columns=seen.columns, ledger=seen.ledger)
    assert read(emulator.endpoint, desired, ahead=foreign)[0].requests == plain.requests


def test_the_cli_read_leaves_the_record_in_the_project(emulator, ds_prefix: str, project_root: Path) -> None:
    p = ds_prefix
    desired = spec(project_root, p)
    ad = Adapter(local_client(PROJECT, emulator.endpoint), PROJECT, emulator=True)
    warehouse(ad, p)
    first = read_remembering(ad, desired, target="local")
    path = project_root / ".reconcile" / "read-ahead-local.json"
    assert readahead.load(path, PROJECT) == readahead.seen_in(first, desired)
    again = read_remembering(Adapter(local_client(PROJECT, emulator.endpoint), PROJECT, emulator=True),
                             desired, target="local")
    assert again.model_copy(update={"taken_at": first.taken_at}) == first


# ------------------------------------------------------------- pure helpers (no emulator)

def test_the_record_file(tmp_path: Path) -> None:
    seen = readahead.Seen(project="p", locations={"d": "EU"}, types={"d.t": "TABLE"},
                          columns={"d.t": [ColumnState(name="x", type="INT64", mode="REQUIRED")], "d.u": None})
    path = readahead.record_path(tmp_path, "local")
    assert path == tmp_path / ".reconcile" / "read-ahead-local.json"
    assert readahead.record_path(tmp_path, "../../etc/x").parent == tmp_path / ".reconcile"  # never outside
    readahead.save(path, seen)
    assert readahead.load(path, "p") == seen
    assert readahead.load(path, "other") is None  # another project's
    assert readahead.load(tmp_path / "absent.json", "p") is None
    for bad in ("{", "[]", '{"version": 1, "project": "p"}', '{"version": 99, "project": "p"}'):
        path.write_text(bad)
        assert readahead.load(path, "p") is None, bad
    blocked = tmp_path / "file"
    blocked.write_text("x")
    readahead.save(blocked / "sub" / "r.json", seen)  # cannot be written: no error, no file
    assert not (blocked / "sub").exists()


# ------------------------------------------------------------- any record (property)

def _mutations():
    """A record's ways to be wrong: tables dropped or invented, columns renamed, retyped,
    dropped or moved, a location, a ledger range or hash changed, another type."""
    from hypothesis import strategies as st

    return st.lists(st.tuples(st.sampled_from(["drop_table", "invent_table", "rename_column", "retype_column",
                                               "drop_column", "reverse_columns", "relocate", "shift_range",
                                               "rehash", "retype_table", "no_columns", "drop_ledger"]),
                              st.integers(min_value=0, max_value=50)), max_size=4)


def _mutate(seen: readahead.Seen, changes: list[tuple[str, int]], p: str) -> readahead.Seen:
    types, cols, locs, ledger = dict(seen.types), dict(seen.columns), dict(seen.locations), list(seen.ledger)
    for kind, k in changes:
        refs = sorted(types)
        ref = refs[k % len(refs)] if refs else None
        c = cols.get(ref) or []
        if kind == "drop_table" and ref:
            types.pop(ref)
        elif kind == "invent_table":
            types[f"{p}market.nope{k}"] = "TABLE"
            cols[f"{p}market.nope{k}"] = [ColumnState(name="x", type="INT64")]
        elif kind == "rename_column" and c:
            cols[ref] = [c[0].model_copy(update={"name": c[0].name.upper() + "_"})] + c[1:]
        elif kind == "retype_column" and c:
            cols[ref] = [x.model_copy(update={"type": "STRING" if x.type != "STRING" else "INT64"}) for x in c]
        elif kind == "drop_column" and c:
            cols[ref] = c[k % len(c):][1:] + c[:k % len(c)]
        elif kind == "reverse_columns" and c:
            cols[ref] = list(reversed(c))
        elif kind == "no_columns" and ref:
            cols[ref] = None
        elif kind == "relocate" and locs:
            ds = sorted(locs)[k % len(locs)]
            locs[ds] = "EU" if locs[ds] != "EU" else "US"
        elif kind == "retype_table" and ref:
            types[ref] = "VIEW" if k % 2 else "CLONE"
        elif kind in ("shift_range", "rehash", "drop_ledger") and ledger:
            i = k % len(ledger)
            if kind == "drop_ledger":
                ledger.pop(i)
            elif kind == "rehash":
                ledger[i] = ledger[i].model_copy(update={"content_hash": f"h{k}"})
            else:
                ledger[i] = ledger[i].model_copy(update={"key_min": "2015-06-01", "key_rows": k})
    return readahead.Seen(project=seen.project, locations=locs, types=types, columns=cols, ledger=ledger)


def test_any_record_gives_the_snapshot_of_no_record(emulator, ds_prefix: str, project_root: Path) -> None:
    """For records mutated every way a record can be stale (hypothesis), the read with it
    equals the read without it, and sends at most its read-ahead queries more."""
    from hypothesis import HealthCheck, given, settings

    p = ds_prefix
    desired = spec(project_root, p)
    warehouse(Adapter(local_client(PROJECT, emulator.endpoint), PROJECT, emulator=True), p)
    plain, _ = read(emulator.endpoint, desired)
    seen = readahead.seen_in(plain, desired)
    assert {e.key_min for e in seen.ledger if e.key_min} == {"2000-01-03"}

    @settings(max_examples=12, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
    @given(_mutations())
    def check(changes: list[tuple[str, int]]) -> None:
        record = _mutate(seen, changes, p)
        got, _ = read(emulator.endpoint, desired, ahead=record)
        assert same(got, plain), changes
        assert plain.requests <= got.requests <= plain.requests + 2, (changes, got.requests)

    check()
