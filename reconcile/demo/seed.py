"""Seed the demo warehouse: cbi-v14 as the 2025-11-19 audit found it.

Builds, on a target (normally the local BigQuery), the legacy layout from real
public data (see `reconcile.demo.data`): legacy datasets holding real tables,
backup datasets, some new datasets that exist but are empty, one dataset in
the wrong region (`market_data` in US), and training tables carrying the
audit's placeholder rows. It also writes the local staging folder with its
provenance manifest. Seeding is a setup step, not a reconcile: it goes through
the same adapter but is never part of a plan.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import pyarrow.parquet as pq

from reconcile.bq.adapter import Adapter
from reconcile.bq.sqltext import statement
from reconcile.spec.sources import arrow_to_bq
from reconcile.demo import data

log = logging.getLogger(__name__)

# Where the audit found each dataset. market_data sits in the wrong region.
LEGACY_LOCATIONS = {
    "forecasting_data_warehouse": "US",
    "forecasting_data_warehouse_backup_20251027": "US",
    "models_v4": "US",
    "model_backups_oct27": "US",
    "models_v5": "US",
    "yahoo_finance_comprehensive": "US",
}
# New datasets that exist already (empty); market_data was created in US by mistake.
EXISTING_NEW = {"raw_intelligence": "us-central1", "features": "us-central1", "market_data": "US"}
# Views the audit found over the legacy data (issue 17): a BI team's dashboard, in a dataset
# of its own in the legacy data's location. Not in the spec: listed as unmanaged, and it
# holds up its legacy dataset's deletion until it reads the new name (`reconcile refs`).
AUDIT_VIEWS = {"dashboards.crude_oil_weekly": ("US", "demo/crude_oil_weekly_dashboard.sql")}


def seed(adapter: Adapter, staging_dir: Path, progress=None) -> dict[str, int]:
    """Create the audit-time warehouse and staging files. Idempotent: existing
    tables are left as they are. Returns rows per seeded table."""
    say = progress or (lambda m: log.info(m))
    staging_dir.mkdir(parents=True, exist_ok=True)
    manifest = data.build_staging(staging_dir)
    say(f"staging: {sum(1 for m in manifest if not m.get('missing'))} files written to {staging_dir}, "
        f"{sum(1 for m in manifest if m.get('missing'))} sources missing (no real offline copy)")
    for name, loc in {**LEGACY_LOCATIONS, **EXISTING_NEW}.items():
        if adapter.create_dataset(name, loc):
            say(f"dataset {name} ({loc}) created")
    counts: dict[str, int] = {}
    tables = data.legacy_tables()
    with tempfile.TemporaryDirectory() as tmp:
        for ref, table in sorted(tables.items()):
            ds = ref.split(".")[0]
            cols = [(f.name, arrow_to_bq(f.type), "NULLABLE") for f in table.schema]
            if not adapter.create_table(ref, cols, description="seeded from real public data (demo)"):
                counts[ref] = adapter.count_rows(ref)
                continue
            path = Path(tmp) / f"{ref}.parquet"
            pq.write_table(table, path)
            adapter.load_parquet(path, ref, location=LEGACY_LOCATIONS.get(ds) or EXISTING_NEW.get(ds))
            counts[ref] = table.num_rows
            say(f"table {ref}: {table.num_rows:,} rows")
    for ref, (loc, sql_file) in sorted(AUDIT_VIEWS.items()):
        ds = ref.split(".")[0]
        if adapter.create_dataset(ds, loc):
            say(f"dataset {ds} ({loc}) created")
        if not adapter.table_exists(ref):
            adapter.execute(statement(sql_file, view=adapter.q(ref)), location=loc, what=f"create view {ref}")
            say(f"view {ref} (reads the legacy data)")
    return counts
