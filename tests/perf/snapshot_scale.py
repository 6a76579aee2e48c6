"""Measure read_snapshot on a large warehouse: requests sent and wall time.

Starts a fresh local BigQuery (bqemulator, not persistent) in a temporary folder,
builds DATASETS x TABLES tables with the API (create_table; one INSERT per dataset so
some counts are not zero), then reads two snapshots and prints, for each, the number
of HTTP requests and the wall time:

  - without a spec (desired=None): TABLES, PARTITIONS, COLUMNS and VIEWS of every
    dataset, the most a snapshot reads;
  - with a spec that declares no tables: TABLES and PARTITIONS only.

The emulator is stopped by the PID it recorded, whatever happens.

    .venv/bin/python tests/perf/snapshot_scale.py --datasets 50 --tables 40
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import logging
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from reconcile.local import emulator as local# noqa: E402
from reconcile.bq.adapter import Adapter, local_client  # noqa: E402
from reconcile.snapshot.read import read_snapshot  # noqa: E402
from reconcile.spec.load import load_spec  # noqa: E402

PROJECT = "cbi-v14"
COLUMNS = [("date", "DATE", "NULLABLE"), ("symbol", "STRING", "NULLABLE"),
           ("close", "FLOAT64", "NULLABLE"), ("volume", "INT64", "NULLABLE"),
           ("regime", "STRING", "NULLABLE")]


def build(adapter: Adapter, datasets: int, tables: int, locations: list[str], workers: int) -> None:
    names = [(f"ds{i:03d}", locations[i % len(locations)]) for i in range(datasets)]
    for name, loc in names:
        adapter.create_dataset(name, loc)
    refs = [f"{name}.t{j:03d}" for name, _ in names for j in range(tables)]
    t0 = time.monotonic()
    with cf.ThreadPoolExecutor(max_workers=workers) as pool:
        for _ in pool.map(lambda ref: adapter.create_table(ref, COLUMNS), refs):
            pass
    print(f"created {len(refs)} tables in {time.monotonic() - t0:.1f}s", flush=True)
    for name, loc in names:
        adapter.execute(f"INSERT INTO {adapter.q(f'{name}.t000')} (date, symbol, close, volume, regime) "
                        "VALUES (DATE '2024-01-02', 'ZL', 48.1, 100, 'allhistory'), "
                        "(DATE '2024-01-03', 'ZL', 48.7, 120, 'allhistory')", location=loc)


def measure(adapter: Adapter, desired, label: str) -> None:
    t0 = time.monotonic()
    snap = read_snapshot(adapter, desired)
    wall = time.monotonic() - t0
    rows = sum(t.rows or 0 for t in snap.tables.values())
    print(f"{label}: {len(snap.datasets)} datasets, {len(snap.tables)} tables, {rows} rows: "
          f"{snap.requests} requests, {wall:.1f}s", flush=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--datasets", type=int, default=50)
    ap.add_argument("--tables", type=int, default=40, help="tables per dataset")
    ap.add_argument("--locations", default="us-central1", help="comma-separated, assigned round-robin")
    ap.add_argument("--workers", type=int, default=4, help="threads creating tables")
    ap.add_argument("-v", "--verbose", action="store_true", help="log each snapshot query's time")
    args = ap.parse_args()
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(name)s %(message)s")
    for noisy in ("urllib3", "google"):
        logging.getLogger(noisy).setLevel(logging.WARNING)

    with tempfile.TemporaryDirectory(prefix="snapshot-scale-") as tmp:
        root = Path(tmp)
        emu = local.start(root=root, project=PROJECT, port=0, persistent=False)
        try:
            adapter = Adapter(local_client(PROJECT, emu.endpoint), PROJECT, emulator=True)
            build(adapter, args.datasets, args.tables, args.locations.split(","), args.workers)
            measure(adapter, None, "snapshot without a spec (TABLES, PARTITIONS, COLUMNS)")
            spec = root / "desired_state" / "spec.yaml"
            spec.parent.mkdir()
            spec.write_text(f"project: {PROJECT}\ndefault_location: us-central1\n"
                            "datasets: {ops: {}}\n")
            measure(adapter, load_spec(spec, root=root),
                    "snapshot with a spec declaring no tables (TABLES, PARTITIONS)")
        finally:
            if emu.started and emu.pid is not None:
                local.stop_pid(emu.pid)
    return 0


if __name__ == "__main__":
    sys.exit(main())
