"""The `reconcile` command line (`main`); `python -m reconcile.cli` runs it too.

Importing this package imports the BigQuery client without pandas, which it would load for
DataFrame conversions the tool never makes (reconcile.bq.startup: ~0.4 s of each command's
start-up)."""

from reconcile.bq.startup import import_client_without_pandas

import_client_without_pandas()
