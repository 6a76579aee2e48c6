"""Measure one load job of a 1,000,000-row file on the local BigQuery, alone and next to
the requests a MergeLoad's bookkeeping sends: what is left of the gap between a MergeLoad
into an empty table and a plain load once the handler sends nothing else.

Starts a fresh local BigQuery (bench.emulator: stopped by its PID whatever happens),
builds the bench's file (the demo's yahoo_historical_prefixed rows repeated, bench.big_file),
then loads it, round after round, into a fresh table in each of these settings:

  alone          the load job only (what the bench's plain load does)
  after_insert   one small INSERT job (an ops row) just before the load
  after_count    a COUNT(*) of the previous 1,000,000-row table just before the load
  during_insert  one small INSERT job sent from a thread while the file uploads (the
                 MergeLoad's key-range row)

and prints the median seconds of each (the first round is a warm-up). The tables of
`after_count` are kept (it counts the previous one); the others are dropped.

    .venv/bin/python tests/perf/load_probe.py --rows 1000000 --rounds 8
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import hashlib
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parents[2]), str(Path(__file__).resolve().parent)]

from bench import PROJECT, big_file, emulator, staging_files  # noqa: E402

from reconcile.bq.adapter import Adapter, local_client  # noqa: E402

SETTINGS = ("alone", "after_insert", "after_count", "during_insert")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--rounds", type=int, default=8)
    args = ap.parse_args()
    import pyarrow.parquet as pq

    from reconcile.spec.sources import arrow_to_bq

    with tempfile.TemporaryDirectory(prefix="load-probe-") as tmp, emulator("load-probe") as emu:
        d = Path(tmp)
        path = big_file(staging_files(d) / "yahoo_historical_prefixed.parquet", args.rows, d / "big.parquet")
        cols = [(f.name, arrow_to_bq(f.type), "NULLABLE") for f in pq.read_schema(path)]
        ad = Adapter(local_client(PROJECT, emu.endpoint), PROJECT, emulator=True, run_id="probe")
        ad.create_dataset("probe", "us-central1")
        ad.create_table("probe.side", [("a", "STRING", "NULLABLE")])
        raw = path.read_bytes()
        digest = hashlib.sha256(raw).hexdigest()
        seconds: dict[str, list[float]] = {s: [] for s in SETTINGS}
        counted: str | None = None
        k = 0
        with cf.ThreadPoolExecutor(max_workers=1) as pool:
            for rnd in range(args.rounds):
                for setting in SETTINGS:
                    k += 1
                    table = f"probe.t{k}"
                    ad.create_table(table, cols)
                    if setting == "after_insert":
                        ad.insert_rows_dml("probe.side", [{"a": "x"}], location="us-central1")
                    if setting == "after_count" and counted:
                        ad.count_rows(counted, location="us-central1")
                    side = None
                    t0 = time.monotonic()
                    if setting == "during_insert":
                        side = pool.submit(ad.insert_rows_dml, "probe.side", [{"a": "y"}], location="us-central1")
                    ad.load_parquet(path, table, location="us-central1", data=raw, write_empty=True, digest=digest)
                    took = time.monotonic() - t0
                    if side is not None:
                        side.result()
                    if setting == "after_count":
                        counted = table
                    else:
                        ad.delete_table(table)
                    if rnd:
                        seconds[setting].append(took)
        print(f"{args.rows:,} rows ({path.stat().st_size / 1e6:.1f} MB), median of {args.rounds - 1} rounds:")
        for setting, values in seconds.items():
            print(f"  {setting:14} {statistics.median(values):.3f} s  {[round(v, 3) for v in values]}")


if __name__ == "__main__":
    main()
