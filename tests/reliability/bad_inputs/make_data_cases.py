"""Write the corpus's Parquet cases from real rows (run once; the files are committed).

    .venv/bin/python tests/reliability/bad_inputs/make_data_cases.py

Every case starts from the first 60 rows of the demo's weather_granular staging file
(NOAA Seattle daily weather, `vega_datasets`; see reconcile/demo/data.py) and breaks
one thing. Deterministic: same bytes on every run with the same pyarrow.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

HERE = Path(__file__).resolve().parent


def _write(table: pa.Table, name: str) -> Path:
    path = HERE / name
    pq.write_table(table, path, compression="zstd")
    return path


def main() -> None:
    from reconcile.demo.data import build_staging

    with tempfile.TemporaryDirectory() as d:
        build_staging(Path(d))
        real = pq.read_table(Path(d) / "weather_granular.parquet").slice(0, 60)
    cols = {n: real.column(n) for n in real.column_names}

    # temp_max as text, date as text: types the table does not have.
    _write(real.set_column(real.column_names.index("temp_max"), "temp_max", pc.cast(cols["temp_max"], pa.string()))
               .set_column(0, "date", pc.cast(cols["date"], pa.string())), "data_wrong_types.parquet")
    # A key column (station) missing.
    _write(real.drop_columns(["station"]), "data_missing_key_column.parquet")
    # Duplicate keys: the first 10 rows twice.
    _write(pa.concat_tables([real, real.slice(0, 10)]), "data_duplicate_keys.parquet")
    # Null keys: station empty on 3 rows.
    st = cols["station"].to_pylist()
    st[5] = st[17] = st[42] = None
    _write(real.set_column(1, "station", pa.array(st, pa.string())), "data_null_keys.parquet")
    # Placeholders: the spec's global 'TODO' and the load's own 'unknown' in the weather column.
    w = cols["weather"].to_pylist()
    w[3], w[30] = "TODO", "unknown"
    _write(real.set_column(real.column_names.index("weather"), "weather", pa.array(w, pa.string())),
           "data_placeholders.parquet")
    # No rows at all (the schema is right).
    _write(real.slice(0, 0), "data_zero_rows.parquet")
    # A column the table does not have.
    _write(real.append_column("humidity", pc.multiply(cols["wind"], 0.0)), "data_extra_column.parquet")
    # A nested column no BigQuery load here can take.
    nested = pa.array([{"a": v} for v in cols["wind"].to_pylist()], pa.struct([("a", pa.float64())]))
    _write(real.set_column(real.column_names.index("wind"), "wind", nested), "data_struct_column.parquet")
    # Truncated: the footer cut off.
    good = _write(real, "data_truncated.parquet")
    good.write_bytes(good.read_bytes()[:-40])


if __name__ == "__main__":
    main()
