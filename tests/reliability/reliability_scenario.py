"""The reliability suite's warehouse: a small cbi-v14 under a dataset prefix.

Real data only (`reconcile.demo.data`): the demo's staging files and legacy tables.
One spec exercises every kind of work apply does:

    {p}raw   (us-central1)  vix_daily, fred_macro: MERGE loads of two staging files,
                            a Validate gate (min_rows, range), a view, a transform output
    {p}mkt   (seeded in US, declared us-central1): weather_granular + a view, relocated
                            (approved) through {p}mkt__relocating
    {p}legacy (US)          crude_oil_prices, sp500_prices: backed up, then migrated to
                            {p}train.fwd_* (copy jobs, counts verified)
    {p}old_backup_1027 (US) a backup dataset consolidated into the archive {p}arch
    {p}ops                  ledger, run records, lease, checkpoints

`source_sums()` computes every source's (rows, content checksum) independently of the
executor: a staging file is loaded into a scratch table with a plain load job; a legacy
table is read before anything runs. `expected()` maps them onto the tables the converged
warehouse must hold, and `verify()` compares the warehouse with them: a lost or duplicated row changes the count or the checksum
(BIT_XOR(FARM_FINGERPRINT(TO_JSON_STRING(t))), sql/apply/checksum.sql).
"""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq

from apply_helpers import (
    VIX_COLUMNS, checksum, copy_staging, load_table, reference_checksum, write_spec,
)
from reconcile.bq.adapter import Adapter, param
from reconcile.demo.data import legacy_tables
from reconcile.plan.names import archive_name, backup_name
from reconcile.spec.model import DesiredState

STAGING = ["vix_daily.parquet", "fred_macro_expanded.parquet"]
WEATHER_NULLABLE = ("[{name: date, type: DATE}, {name: station, type: STRING}, {name: precipitation, type: FLOAT64}, "
                    "{name: temp_max, type: FLOAT64}, {name: temp_min, type: FLOAT64}, {name: wind, type: FLOAT64}, "
                    "{name: weather, type: STRING}]")
FRED_COLUMNS = ("[{name: date, type: DATE, mode: REQUIRED}, {name: series_id, type: STRING, mode: REQUIRED}, "
                "{name: value, type: FLOAT64}]")
LEGACY = {  # legacy table in {p}legacy -> the demo's legacy table it is seeded from
    "crude_oil_prices": "forecasting_data_warehouse.crude_oil_prices",
    "sp500_prices": "forecasting_data_warehouse.sp500_prices",
}
OLD_BACKUP = {"crude_oil_prices": "forecasting_data_warehouse_backup_20251027.crude_oil_prices"}


def spec_text(p: str) -> str:
    # Tables unpartitioned: the emulator's PARTITIONS view costs ~5.6 ms per partition.
    return f"""\
        version: 1
        project: cbi-v14
        default_location: us-central1
        ops_dataset: {p}ops
        datasets:
          {p}raw: {{description: raw data}}
          {p}mkt: {{description: market data}}
          {p}train: {{}}
          {p}arch: {{}}
          {p}ops: {{}}
        tables:
          {p}raw.vix_daily: {{columns: {VIX_COLUMNS}}}
          {p}raw.fred_macro: {{columns: {FRED_COLUMNS}, cluster_by: [series_id]}}
          {p}mkt.weather_granular: {{columns: {WEATHER_NULLABLE}}}
        views:
          {p}mkt.by_station: {{sql: sql/views/by_station.sql}}
          {p}raw.vix_yearly: {{sql: sql/views/vix_yearly.sql}}
        loads:
          - {{source: staging/vix_daily.parquet, table: {p}raw.vix_daily, keys: [date], min_rows: 1000}}
          - {{source: staging/fred_macro_expanded.parquet, table: {p}raw.fred_macro, keys: [date, series_id]}}
        migrations:
          - {{source: "{p}legacy.*", to: {p}train, rename: {{prefix: fwd_}}}}
        archive:
          dataset: {p}arch
          sources: ["{p}old_backup_*"]
          delete_sources: false
        transforms:
          vix_monthly:
            sql: sql/transforms/vix_monthly.sql
            inputs: [{p}raw.vix_daily]
            outputs: [{p}raw.vix_monthly]
            # A rebuild from its input: replacing the table's rows is this transform's job,
            # so the spec names it (issue 18: CREATE OR REPLACE over rows needs an allow).
            allow: ["CREATE OR REPLACE TABLE {p}raw.vix_monthly"]
        expectations:
          "{p}raw.vix_daily":
            ranges: {{vix_close: {{min: 5, max: 100}}}}
        """


def files(p: str) -> dict[str, str]:
    return {
        "sql/views/by_station.sql": f"SELECT station, COUNT(*) AS days FROM `{p}mkt.weather_granular` GROUP BY station\n",
        "sql/views/vix_yearly.sql": (f"SELECT EXTRACT(YEAR FROM date) AS year, AVG(vix_close) AS avg_close "
                                     f"FROM `{p}raw.vix_daily` GROUP BY year\n"),
        "sql/transforms/vix_monthly.sql": (
            f"CREATE OR REPLACE TABLE `{p}raw.vix_monthly` AS\n"
            "SELECT DATE_TRUNC(date, MONTH) AS month, AVG(vix_close) AS avg_close, COUNT(*) AS days\n"
            f"FROM `{p}raw.vix_daily` GROUP BY month;\n"),
    }


def write(root: Path, p: str, staging_src: Path) -> DesiredState:
    """The scenario's project under `root`: spec, SQL files, staging files."""
    copy_staging(staging_src, root, STAGING)
    return write_spec(root, spec_text(p), files(p))


def seed(adapter: Adapter, p: str, staging_src: Path, tmp: Path) -> None:
    """The legacy state the spec starts from: a wrong-region dataset with data and a view,
    legacy tables to migrate, a backup dataset to archive."""
    legacy = legacy_tables()
    adapter.create_dataset(f"{p}mkt", "US")
    load_table(adapter, f"{p}mkt.weather_granular", pq.read_table(staging_src / "weather_granular.parquet"), tmp, "US")
    adapter.execute(f"CREATE VIEW {adapter.q(p + 'mkt.by_station')} AS "
                    f"SELECT station, COUNT(*) AS days FROM `{p}mkt.weather_granular` GROUP BY station",
                    location="US")
    adapter.create_dataset(f"{p}legacy", "US")
    for name, src in LEGACY.items():
        load_table(adapter, f"{p}legacy.{name}", legacy[src], tmp, "US")
    adapter.create_dataset(f"{p}old_backup_1027", "US")
    for name, src in OLD_BACKUP.items():
        load_table(adapter, f"{p}old_backup_1027.{name}", legacy[src], tmp, "US")


def approvals(p: str) -> list[str]:
    return [f"{p}mkt"]


def source_sums(adapter: Adapter, p: str, staging_src: Path) -> dict[str, tuple[int, int | None]]:
    """(rows, checksum) of every source, computed by BigQuery from the source itself: a
    staging file loaded into a scratch table with a plain load job, a seeded legacy table
    read before any apply. Keyed by a name independent of the prefix (the data is the
    same in every case, so a session computes it once)."""
    out: dict[str, tuple[int, int | None]] = {}
    out["vix_daily"] = reference_checksum(adapter, staging_src / "vix_daily.parquet", f"{p}legacy", "_ref_vix")
    out["fred_macro"] = reference_checksum(adapter, staging_src / "fred_macro_expanded.parquet",
                                           f"{p}legacy", "_ref_fred")
    out["weather_granular"] = checksum(adapter, f"{p}mkt.weather_granular")
    for name in LEGACY:
        out[f"legacy.{name}"] = checksum(adapter, f"{p}legacy.{name}")
    for name in OLD_BACKUP:
        out[f"old_backup.{name}"] = checksum(adapter, f"{p}old_backup_1027.{name}")
    return out


def want_for(adapter: Adapter, p: str, staging_src: Path, cache: dict) -> dict[str, tuple[int, int | None]]:
    """expected() under prefix `p`, the source sums computed once per `cache` (call right
    after seed(): the first call reads the seeded tables)."""
    if "sums" not in cache:
        cache["sums"] = source_sums(adapter, p, staging_src)
    return expected(p, cache["sums"])


def unique_prefix(name: str) -> str:
    """A dataset-name prefix no other case uses (as tests/conftest.py's ds_prefix)."""
    import re
    import uuid

    slug = re.sub(r"[^A-Za-z0-9]+", "_", name).strip("_")[:24]
    return f"t{uuid.uuid4().hex[:8]}_{slug}_"


def expected(p: str, sums: dict[str, tuple[int, int | None]]) -> dict[str, tuple[int, int | None]]:
    """Every data table the converged warehouse must hold -> (rows, checksum) of its source."""
    out = {f"{p}raw.vix_daily": sums["vix_daily"], f"{p}raw.fred_macro": sums["fred_macro"],
           f"{p}mkt.weather_granular": sums["weather_granular"]}
    for name in LEGACY:
        s = sums[f"legacy.{name}"]
        out[f"{p}legacy.{name}"] = s  # the source, untouched
        out[f"{p}train.fwd_{name}"] = s  # its migrated copy
        out[f"{p}arch.{backup_name(p + 'legacy', name)}"] = s  # its backup
    for name in OLD_BACKUP:
        s = sums[f"old_backup.{name}"]
        out[f"{p}old_backup_1027.{name}"] = s
        out[f"{p}arch.{archive_name(p + 'old_backup_1027', name)}"] = s
    return out


def checksums(adapter: Adapter, refs: list[str]) -> dict[str, tuple[int, int | None]]:
    """(rows, checksum) of several tables: one UNION ALL query per location. A table that
    does not exist is left out."""
    datasets = dict(adapter.list_datasets())
    by_loc: dict[str, list[str]] = {}
    for ref in refs:
        ds, t = ref.split(".", 1)
        if ds in datasets and t in dict(adapter.list_tables(ds)):
            by_loc.setdefault(datasets[ds], []).append(ref)
    out: dict[str, tuple[int, int | None]] = {}
    for loc, group in by_loc.items():
        parts, params = [], []
        for i, ref in enumerate(group):
            parts.append(f"SELECT @r{i} AS ref, COUNT(*) AS n, BIT_XOR(FARM_FINGERPRINT(TO_JSON_STRING(t))) "
                         f"AS checksum FROM {adapter.q(ref)} AS t")
            params.append(param(f"r{i}", ref))
        for r in adapter.query("\nUNION ALL\n".join(parts), params, location=loc, what="checksums"):
            out[r["ref"]] = (int(r["n"]), r["checksum"])
    return out


def verify(adapter: Adapter, p: str, want: dict[str, tuple[int, int | None]]) -> tuple[dict[str, str], int, int]:
    """(tables whose rows differ from their source: ref -> what differs, rows lost, rows extra).
    Also checks the relocated dataset's region and view, and that no temporary table or
    dataset is left behind. ({}, 0, 0) when everything matches."""
    bad: dict[str, str] = {}
    lost = extra = 0
    got = checksums(adapter, list(want))
    for ref, (n, s) in sorted(want.items()):
        if ref not in got:
            bad[ref] = "missing"
            lost += n
        elif got[ref] != (n, s):
            bad[ref] = f"{got[ref][0]:,} rows (checksum {got[ref][1]}), source {n:,} rows (checksum {s})"
            lost += max(0, n - got[ref][0])
            extra += max(0, got[ref][0] - n)
    datasets = dict(adapter.list_datasets())
    if datasets.get(f"{p}mkt") != "us-central1":
        bad[f"{p}mkt"] = f"in {datasets.get(f'{p}mkt')}, not us-central1"
    if f"{p}mkt__relocating" in datasets:
        bad[f"{p}mkt__relocating"] = "temporary dataset left behind"
    for ds in (f"{p}raw", f"{p}mkt"):
        left = [t for t, _ in adapter.list_tables(ds) if t.startswith("_reconcile_tmp_")]
        if left:
            bad[ds] = f"temporary tables left: {left}"
    if dict(adapter.list_tables(f"{p}mkt")).get("by_station") != "VIEW":
        bad[f"{p}mkt.by_station"] = "view missing"
    return bad, lost, extra


def data_rows(want: dict[str, tuple[int, int | None]]) -> int:
    return sum(n for n, _ in want.values())
