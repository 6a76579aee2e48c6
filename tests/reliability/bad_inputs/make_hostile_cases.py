"""Write the corpus's issue-18 cases (hostile and mistaken input) and their manifest
entries (run once; the files and `cases.yaml` lines are committed).

    PYTHONPATH=. .venv/bin/python tests/reliability/bad_inputs/make_hostile_cases.py

Each spec case is `_base_spec.yaml` (prefix "") with one edit; DDL and view cases are
whole files; the two Parquet cases are the first 60 real rows of the demo's weather
file (as make_data_cases.py) with a column name given twice. Deterministic. The
manifest block between the `# --- issue 18` marker and the end of cases.yaml is
rewritten; everything above it is left as it is.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
BASE = (HERE / "_base_spec.yaml").read_text(encoding="utf-8").replace("${P}", "")
BODY = BASE[BASE.index("version: 1"):]
MARK = "# --- issue 18: hostile and mistaken input (make_hostile_cases.py)"
SPEC = "desired_state/spec.yaml"
DDL = "sql/ddl/news.sql"
VIEW = "sql/views/by_station.sql"

WEATHER_LOAD = ("  - {source: staging/weather.parquet, table: raw.weather, keys: [date, station], min_rows: 10,\n"
                "     placeholders: {weather: [unknown]}}\n")


def edit(old: str, new: str, text: str = BODY) -> str:
    assert old in text, old
    return text.replace(old, new, 1)


def add(section_text: str) -> str:
    return BODY + section_text


# (file, as, exit, expected substrings, content)
SPECS: list[tuple[str, int, list[str], str]] = [
    ("spec_case_duplicate_columns.yaml", 1, [SPEC, "tables.raw.weather", "differ only in case"],
     edit("      - {name: weather, type: STRING}\n",
          "      - {name: weather, type: STRING}\n      - {name: Station, type: STRING}\n")),
    ("spec_case_duplicate_datasets.yaml", 1, [SPEC, "datasets.Raw", "only in case"],
     edit("  ops: {}\n", "  ops: {}\n  Raw: {}\n")),
    ("spec_case_duplicate_key_columns.yaml", 1, [SPEC, "loads[0].keys", "duplicate key column"],
     edit("keys: [date, station]", "keys: [date, DATE]")),
    ("spec_migration_rematches_outputs.yaml", 1, [SPEC, "migrations[0]", "match its own source pattern"],
     add("migrations:\n  - {source: \"raw.fwd_*\", to: raw, rename: {prefix: fwd_}}\n")),
    ("spec_migration_onto_itself.yaml", 1, [SPEC, "migrations[0]", "onto itself"],
     add("migrations:\n  - {source: \"raw.weather\", to: raw}\n")),
    ("spec_migration_star_same_dataset.yaml", 1, [SPEC, "migrations[0]", "again"],
     add("migrations:\n  - {source: \"raw.*\", to: raw, rename: {prefix: v2_}}\n")),
    ("spec_rename_prefix_backtick.yaml", 1, [SPEC, "migrations[0].rename.prefix", "invalid prefix"],
     edit("  ops: {}\n", "  ops: {}\n  legacy: {}\n")
     + "migrations:\n  - {source: \"legacy.*\", to: raw, rename: {prefix: \"x`; DROP SCHEMA raw; --\"}}\n"),
    ("spec_rename_prefix_dot.yaml", 1, [SPEC, "migrations[0].rename.prefix", "invalid prefix"],
     edit("  ops: {}\n", "  ops: {}\n  legacy: {}\n")
     + "migrations:\n  - {source: \"legacy.*\", to: raw, rename: {prefix: \"ops.\"}}\n"),
    ("spec_rename_replace_backtick.yaml", 1, [SPEC, "migrations[0].rename.replace", "invalid replace part"],
     edit("  ops: {}\n", "  ops: {}\n  legacy: {}\n")
     + "migrations:\n  - {source: \"legacy.*\", to: raw, rename: {replace: [old_, \"new`\"]}}\n"),
    ("spec_archive_is_core_dataset.yaml", 1, [SPEC, "archive.dataset", "is a core dataset"],
     add("archive: {dataset: raw, sources: [\"*_backup_*\"]}\n")),
    ("spec_archive_is_ops_dataset.yaml", 1, [SPEC, "archive.dataset", "is a core dataset", "ops_dataset"],
     add("archive: {dataset: ops, sources: [\"*_backup_*\"]}\n")),
    ("spec_table_description_too_long.yaml", 1, [SPEC, "tables.raw.regime_calendar.description",
                                                 "over BigQuery's limit of 16,384"],
     edit("  raw.regime_calendar:\n", "  raw.regime_calendar:\n    description: \"" + "d" * 16385 + "\"\n")),
    ("spec_column_description_too_long.yaml", 1, [SPEC, "tables.raw.weather.columns[6].description",
                                                  "over BigQuery's limit of 1,024"],
     edit("      - {name: weather, type: STRING}\n",
          "      - {name: weather, type: STRING, description: \"" + "w" * 1025 + "\"}\n")),
    ("spec_dataset_description_too_long.yaml", 1, [SPEC, "datasets.raw.description", "over BigQuery's limit"],
     edit("  raw: {description: raw data}\n", "  raw: {description: \"" + "r" * 16385 + "\"}\n")),
    ("spec_view_description_too_long.yaml", 1, [SPEC, "views.raw.by_station.description", "over BigQuery's limit"],
     edit("  raw.by_station: {sql: sql/views/by_station.sql}\n",
          "  raw.by_station: {sql: sql/views/by_station.sql, description: \"" + "v" * 16385 + "\"}\n")),
    ("spec_loads_precedence_partial.yaml", 1, [SPEC, "loads[0].precedence", "declare it on all"],
     edit(WEATHER_LOAD, WEATHER_LOAD + "  - {source: staging/weather_2.parquet, table: raw.weather, "
          "keys: [date, station], precedence: 2}\n")),
    ("spec_loads_precedence_same.yaml", 1, [SPEC, "precedence", "same precedence"],
     edit(WEATHER_LOAD, WEATHER_LOAD.replace("min_rows: 10,", "min_rows: 10, precedence: 1,")
          + "  - {source: staging/weather_2.parquet, table: raw.weather, keys: [date, station], precedence: 1}\n")),
    ("spec_not_a_spec.yaml", 1, [SPEC, "not a bq-reconcile spec"],
     "root: '$6$Zq1d9sQk$Pp0hashhashhash:19000:0:99999:7:::'\ndaemon: '*:19000:0:99999:7:::'\n"),
    ("spec_transform_allow_not_a_list.yaml", 1, [SPEC, "transforms.t.allow", "valid list"],
     add("transforms:\n  t: {sql: sql/views/by_station.sql, allow: \"DROP TABLE raw.weather\"}\n")),
    ("spec_transform_unknown_key.yaml", 1, [SPEC, "transforms.t.allow_everything", "unknown key"],
     add("transforms:\n  t: {sql: sql/views/by_station.sql, allow_everything: true}\n")),
    ("spec_transform_missing_file.yaml", 1, [SPEC, "transforms.t.sql", "not found"],
     add("transforms:\n  t: {sql: sql/transforms/nowhere.sql}\n")),
    ("spec_transform_outputs_undeclared_dataset.yaml", 1, [SPEC, "transforms.t.outputs[0]", "not declared"],
     add("transforms:\n  t: {sql: sql/views/by_station.sql, outputs: [customer_pii.people]}\n")),
    ("spec_transform_sql_escape.yaml", 1, [SPEC, "transforms.t.sql", "escapes the project"],
     add("transforms:\n  t: {sql: ../../../../etc/passwd}\n")),
    ("spec_null_byte_path.yaml", 1, [SPEC, "tables.raw.news.ddl", "invalid path"],
     edit("  raw.news: {ddl: sql/ddl/news.sql}\n", "  raw.news: {ddl: \"sql/ddl/news.sql\\0.txt\"}\n")),
    ("spec_location_injection.yaml", 1, [SPEC, "datasets.raw.location", "unknown BigQuery location"],
     edit("  raw: {description: raw data}\n", "  raw: {description: raw data, location: \"US'; DROP SCHEMA ops; --\"}\n")),
    ("spec_label_injection.yaml", 1, [SPEC, "datasets.raw.labels"],
     edit("  raw: {description: raw data}\n", "  raw: {description: raw data, labels: {\"a`b\": x}}\n")),
    ("spec_partition_by_injection.yaml", 1, [SPEC, "tables.raw.regime_calendar", "invalid column name"],
     edit("  raw.regime_calendar:\n", "  raw.regime_calendar:\n    partition_by: \"start_date) OPTIONS(x\"\n")),
    ("spec_cluster_by_injection.yaml", 1, [SPEC, "tables.raw.regime_calendar", "invalid column name"],
     edit("  raw.regime_calendar:\n", "  raw.regime_calendar:\n    cluster_by: [\"regime`; DROP TABLE raw.weather; --\"]\n")),
    ("spec_ops_dataset_injection.yaml", 1, [SPEC, "ops_dataset", "invalid dataset name"],
     edit("ops_dataset: ops\n", "ops_dataset: \"ops`.x; DROP SCHEMA raw; --\"\n")),
    ("spec_staging_dir_escape.yaml", 1, [SPEC, "staging_dir", "escapes the project"],
     edit("ops_dataset: ops\n", "ops_dataset: ops\nstaging_dir: ../../..\n")),
    ("spec_coverage_reversed.yaml", 1, [SPEC, "expectations", "is after"],
     add("expectations:\n  raw.weather:\n    coverage: {column: date, from: 2020-01-01, to: 2010-01-01}\n")),
    ("spec_expectation_bad_pattern.yaml", 1, [SPEC, "expectations.raw.weather; DROP", "dataset.table_pattern"],
     add("expectations:\n  \"raw.weather; DROP\": {min_rows: 1}\n")),
    ("spec_column_mode_invalid.yaml", 1, [SPEC, "tables.raw.weather.columns[0].mode"],
     edit("{name: date, type: DATE, mode: REQUIRED}", "{name: date, type: DATE, mode: OPTIONAL}")),
    ("spec_version_as_string.yaml", 1, [SPEC, "version"],
     edit("version: 1\n", "version: \"1\"\n")),
    ("spec_min_rows_negative.yaml", 1, [SPEC, "loads[0].min_rows", "greater than or equal to 0"],
     edit("min_rows: 10,", "min_rows: -1,")),
    ("spec_table_ddl_and_columns.yaml", 1, [SPEC, "tables.raw.news", "exactly one of"],
     edit("  raw.news: {ddl: sql/ddl/news.sql}\n",
          "  raw.news: {ddl: sql/ddl/news.sql, columns: [{name: title, type: STRING}]}\n")),
    ("spec_waiver_blank_reason.yaml", 1, [SPEC, "waivers[0].reason", "must not be empty"],
     add("waivers:\n  - {rule: no-placeholders, object: raw.weather, reason: \"   \"}\n")),
    ("spec_target_unknown_type.yaml", 1, [SPEC, "targets.prod.type"],
     add("targets:\n  prod: {type: snowflake}\n")),
    ("spec_target_bad_project.yaml", 1, [SPEC, "targets.prod.project", "invalid project id"],
     add("targets:\n  prod: {type: bigquery, project: \"evil`.x\"}\n")),
    ("spec_include_self.yaml", 1, [SPEC, "include", "included twice"],
     edit("version: 1\n", "version: 1\ninclude: [spec.yaml]\n")),
    ("spec_fix_unknown_kind.yaml", 1, [SPEC, "transforms.t.fixes[0]", "unknown expectation"],
     add("transforms:\n  t: {sql: sql/views/by_station.sql, fixes: [\"raw.weather:drop_everything\"]}\n")),
]

DDLS: list[tuple[str, int, list[str], str]] = [
    ("ddl_triple_quoted_drop.sql", 1, [DDL, "line 2", "only CREATE TABLE"],
     "CREATE TABLE IF NOT EXISTS `raw.news` (title STRING) OPTIONS(description='''it's''');\n"
     "DROP SCHEMA `customer_pii` CASCADE;\n"),
    ("ddl_raw_string_truncate.sql", 1, [DDL, "line 2", "only CREATE TABLE"],
     "CREATE TABLE IF NOT EXISTS `raw.news` (title STRING OPTIONS(description=r'a;\\b'));\n"
     "TRUNCATE TABLE `raw.weather`;\n"),
    ("ddl_comment_hides_semicolon.sql", 1, [DDL, "line 3", "only CREATE TABLE"],
     "CREATE TABLE IF NOT EXISTS `raw.news` (title STRING) -- ; nothing here\n;\n"
     "DELETE FROM `raw.weather` WHERE TRUE;\n"),
    ("ddl_undeclared_table.sql", 1, [DDL, "line 2", "raw.people: not declared"],
     "CREATE TABLE IF NOT EXISTS `raw.news` (title STRING);\n"
     "CREATE TABLE IF NOT EXISTS `raw.people` (name STRING);\n"),
    ("ddl_case_duplicate_columns.sql", 1, [DDL, "differ only in case"],
     "CREATE TABLE IF NOT EXISTS `raw.news` (title STRING, Title STRING);\n"),
    ("ddl_create_or_replace.sql", 1, [DDL, "CREATE OR REPLACE TABLE raw.news replaces its data"],
     "CREATE OR REPLACE TABLE `raw.news` (title STRING);\n"),
    ("ddl_temp_table.sql", 1, [DDL, "has no dataset"],
     "CREATE TEMP TABLE news (title STRING);\n"),
    ("ddl_create_view.sql", 1, [DDL, "only CREATE TABLE"],
     "CREATE VIEW `raw.news` AS SELECT 1 AS title;\n"),
    ("ddl_execute_immediate.sql", 1, [DDL, "only CREATE TABLE"],
     "CREATE TABLE IF NOT EXISTS `raw.news` (title STRING);\nEXECUTE IMMEDIATE 'DROP SCHEMA raw CASCADE';\n"),
    ("ddl_insert_after_create.sql", 1, [DDL, "line 2", "only CREATE TABLE"],
     "CREATE TABLE IF NOT EXISTS `raw.news` (title STRING);\nINSERT `raw.weather` (station) VALUES ('x');\n"),
]

VIEWS: list[tuple[str, int, list[str], str]] = [
    ("view_two_statements.sql", 1, [VIEW, "a view is one query, found 2 statements"],
     "SELECT 1 AS one; DROP SCHEMA `customer_pii` CASCADE;\n"),
    ("view_dml.sql", 1, [VIEW, "a view is one query, found DELETE"],
     "DELETE FROM `raw.weather` WHERE TRUE\n"),
    ("view_other_project.sql", 1, [VIEW, "in another project"],
     "SELECT * FROM `other-project.secret.people`\n"),
    ("view_create_table.sql", 1, [VIEW, "a view is one query"],
     "CREATE TABLE `raw.x` AS SELECT 1 AS one\n"),
    ("view_script.sql", 1, [VIEW, "a view is one query"],
     "DECLARE x INT64 DEFAULT 1;\nSELECT x\n"),
    ("view_comment_then_statement.sql", 1, [VIEW, "a view is one query"],
     "SELECT station FROM `raw.weather` -- ; harmless?\n; DROP TABLE `raw.weather`\n"),
    ("view_triple_quoted_drop.sql", 1, [VIEW, "a view is one query"],
     "SELECT '''it's'''  AS s; DROP SCHEMA `raw` CASCADE\n"),
    ("view_unbalanced.sql", 1, [VIEW, "unbalanced parentheses"],
     "SELECT (station FROM `raw.weather`\n"),
]

DATA: list[tuple[str, int, list[str]]] = [
    ("data_duplicate_column_names.parquet", 1,
     ["staging/weather.parquet", "loads[0].source", "bad Parquet file", "column 'weather' appears twice"]),
    ("data_case_duplicate_column_names.parquet", 1,
     ["staging/weather.parquet", "loads[0].source", "bad Parquet file", "appears twice (as 'station')"]),
]


def _yaml_list(words: list[str]) -> str:
    import json

    return "[" + ", ".join(json.dumps(w) for w in words) + "]"


def main() -> None:
    lines = [MARK]
    for kind, cases in (("spec", SPECS), ("ddl", DDLS), ("view", VIEWS)):
        for name, code, expect, content in cases:
            (HERE / name).write_text(content, encoding="utf-8")
            lines.append(f"{name}: {{as: {kind}, exit: {code}, expect: {_yaml_list(expect)}}}")
    import pyarrow as pa
    import pyarrow.parquet as pq

    from reconcile.demo.data import build_staging

    with tempfile.TemporaryDirectory() as d:
        build_staging(Path(d))
        real = pq.read_table(Path(d) / "weather_granular.parquet").slice(0, 60)
    dup = pa.Table.from_arrays(real.columns + [real.column("weather")], names=real.column_names + ["weather"])
    pq.write_table(dup, HERE / "data_duplicate_column_names.parquet", compression="zstd")
    case = pa.Table.from_arrays(real.columns + [real.column("station")], names=real.column_names + ["Station"])
    pq.write_table(case, HERE / "data_case_duplicate_column_names.parquet", compression="zstd")
    for name, code, expect in DATA:
        lines.append(f"{name}: {{as: staging, exit: {code}, expect: {_yaml_list(expect)}}}")
    manifest = HERE / "cases.yaml"
    text = manifest.read_text(encoding="utf-8")
    if MARK in text:
        text = text[:text.index(MARK)]
    manifest.write_text(text.rstrip("\n") + "\n" + "\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
