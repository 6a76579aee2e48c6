"""The BigQuery client imported for a command-line process: without pandas.

The client imports pandas at start-up for its DataFrame conversions
(google.cloud.bigquery._pandas_helpers, and the BigQuery Storage reader when
google-cloud-bigquery-storage is installed, as bqemulator and prefect-gcp[bigquery] install
it); the tool never converts to a DataFrame. That import is about 0.4 s of every command's
start-up (measured: `import google.cloud.bigquery` 0.98-1.08 s of CPU with pandas,
0.53-0.57 s without, on the same machine minutes apart).

Only `reconcile.cli` calls `import_client_without_pandas`, first thing in its process: a
library user's process (the Prefect flows, a notebook) imports the client as it is. pandas
stays importable afterwards; only the client's own DataFrame helpers, which nothing here
calls, see it as absent.
"""

from __future__ import annotations

import sys


def import_client_without_pandas() -> None:
    if "pandas" in sys.modules or "google.cloud.bigquery" in sys.modules:
        return  # already imported: nothing to change
    sys.modules["pandas"] = None  # type: ignore[assignment]  # `import pandas` raises ImportError meanwhile
    try:
        import google.cloud.bigquery  # noqa: F401
    finally:
        if "pandas" in sys.modules and sys.modules["pandas"] is None:
            del sys.modules["pandas"]
