"""The command line imports the BigQuery client without pandas (reconcile.bq.startup), and
changes nothing for a process that has pandas already; pandas stays importable either way."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def _run(code: str) -> str:
    r = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    return r.stdout.strip()


def test_the_cli_imports_the_client_without_pandas_and_pandas_stays_importable() -> None:
    out = _run("""
        import sys
        import reconcile.cli
        print("pandas" in sys.modules, "google.cloud.bigquery" in sys.modules)
        from google.cloud.bigquery import _pandas_helpers
        print(_pandas_helpers.pandas is None)
        import pandas
        print(pandas.DataFrame({"a": [1, 2]}).shape)
    """)
    assert out.splitlines() == ["False True", "True", "(2, 1)"]


def test_a_process_with_pandas_keeps_the_clients_dataframe_helpers() -> None:
    out = _run("""
        import pandas
        import reconcile.cli
        from google.cloud.bigquery import _pandas_helpers
        print(_pandas_helpers.pandas is pandas)
    """)
    assert out == "True"
