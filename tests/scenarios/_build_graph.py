"""Writes the object-graph scenarios (issue 11) from the in-sync base of `_build.py`:
what the planner blocks at plan time because of what reads what.

Each scenario is a folder: snapshot.json (+ options.json, sources.json), and, where the
base spec is not enough, its own spec.yaml and sql/ (the base's SQL files copied, plus
the scenario's). Run it when a scenario is added or the snapshot format changes:
    python tests/scenarios/_build_graph.py
then `UPDATE_GOLDEN=1 pytest tests/planner` and review the expected files.
"""

import copy
import shutil
from pathlib import Path

from _build import GOOD_OBS, IN_SYNC, TRAIN_COLS, scenario

HERE = Path(__file__).parent
BASE = HERE / "base"


def own_spec(name: str, edit, sql: dict[str, str]) -> None:
    """A scenario folder with the base spec edited by `edit` and extra SQL files."""
    d = HERE / name
    d.mkdir(exist_ok=True)
    shutil.copytree(BASE / "sql", d / "sql", dirs_exist_ok=True)
    for rel, text in sql.items():
        (d / "sql" / rel).write_text(text)
    (d / "spec.yaml").write_text(edit((BASE / "spec.yaml").read_text()))


def replace_once(old: str, new: str):
    def edit(text: str) -> str:
        assert text.count(old) == 1, old
        return text.replace(old, new)
    return edit


def main() -> None:
    s = copy.deepcopy

    # The first case, in miniature: the legacy dataset holds _1m and _6m, no _3m,
    # and no backup to backfill from. The repair reads a missing archive copy and writes a
    # missing _3m; a view reads _3m; the repair's `fixes` glob also matches _6m, which it
    # does not write.
    own_spec("graph_missing_inputs", replace_once(
        "views:\n  market_data.latest_prices: {sql: sql/latest_prices.sql}\n",
        "views:\n  market_data.latest_prices: {sql: sql/latest_prices.sql}\n"
        "  training.regime_distribution: {sql: sql/regime_distribution.sql}\n"), {})
    spec = HERE / "graph_missing_inputs" / "spec.yaml"
    spec.write_text(spec.read_text().replace(
        "transforms:\n",
        "transforms:\n"
        "  repair_training:\n"
        "    sql: sql/repair_training.sql\n"
        "    fixes: [\"training.zl_training_*:placeholders\"]\n"))
    (HERE / "graph_missing_inputs" / "sql" / "regime_distribution.sql").write_text(
        "SELECT 'zl_training_1m' AS table_name, regime, COUNT(*) AS row_count\n"
        "FROM training.zl_training_1m GROUP BY regime\n"
        "UNION ALL\n"
        "SELECT 'zl_training_3m' AS table_name, regime, COUNT(*) AS row_count\n"
        "FROM training.zl_training_3m GROUP BY regime\n")
    (HERE / "graph_missing_inputs" / "sql" / "repair_training.sql").write_text(
        "-- backfill from the archived backup, then label the 3-month table\n"
        "MERGE training.zl_training_1m t\n"
        "USING (SELECT date, regime, training_weight\n"
        "       FROM archive_2025.models_backup_oct27__training_data_1m_backup) s\n"
        "ON t.date = s.date\n"
        "WHEN NOT MATCHED THEN INSERT (date, regime, training_weight) VALUES (s.date, s.regime, s.training_weight);\n"
        "UPDATE training.zl_training_3m SET regime = 'x' WHERE FALSE;\n")
    missing = s(IN_SYNC)
    del missing["tables"]["training.zl_training_1m"]
    missing["ledger"] = missing["ledger"][:2]
    missing["observations"] = {}
    missing["tables"]["legacy_models.training_data_6m"] = {"type": "TABLE", "rows": 12, "columns": TRAIN_COLS}
    missing["tables"]["archive_2025.legacy_models__training_data_6m"] = {"type": "TABLE", "rows": 12}
    scenario("graph_missing_inputs", missing)

    # Relocating the ops dataset: the executor refuses it (it records the relocation's own
    # checkpoints), so the plan blocks it, and with it every change (each writes into ops).
    ops = s(IN_SYNC)
    ops["datasets"]["ops"]["location"] = "US"
    del ops["tables"]["market_data.prices"]
    scenario("relocate_ops", s(ops), options={"approvals": ["ops"]})
    # The same, not approved: the flag blocks every change too (ops bookkeeping included).
    scenario("ops_flagged", s(ops))

    # A dataset holding a materialized view: a copy job cannot carry it.
    mv = s(IN_SYNC)
    mv["datasets"]["market_data"]["location"] = "US"
    mv["tables"]["market_data.prices_mv"] = {"type": "MATERIALIZED VIEW", "rows": 150}
    scenario("relocate_materialized_view", mv, options={"approvals": ["market_data"]})

    # A table declared where a view stands, and a migration whose destination is a view:
    # never treated as a 0-row table (no __0rows backup), blocked with the reason.
    over = s(IN_SYNC)
    over["tables"]["raw.weather"] = {"type": "VIEW", "rows": None, "columns": None,
                                     "view_sql": "SELECT * FROM raw.weather_2019"}
    over["tables"]["training.zl_training_1m"] = {"type": "VIEW", "rows": None, "columns": None,
                                                 "view_sql": "SELECT * FROM legacy_models.training_data_1m"}
    over["ledger"] = over["ledger"][:1]
    over["observations"] = {}
    scenario("table_over_view", over)

    # The archive dataset in the wrong region, not approved: nothing backs up into it.
    arc = s(IN_SYNC)
    arc["datasets"]["archive_2025"]["location"] = "US"
    del arc["tables"]["training.zl_training_1m"]
    arc["ledger"] = arc["ledger"][:2]
    arc["observations"] = {}
    scenario("flagged_archive", arc)

    # Deleting an archived dataset that holds a view (no copy carries it): refused.
    arcv = s(IN_SYNC)
    arcv["datasets"]["models_backup_oct27"] = {"location": "US", "labels": {}}
    arcv["tables"]["models_backup_oct27.model_a"] = {"type": "TABLE", "rows": 7}
    arcv["tables"]["models_backup_oct27.model_a_latest"] = {"type": "VIEW", "rows": None,
                                                            "view_sql": "SELECT * FROM models_backup_oct27.model_a"}
    scenario("archive_delete_view", arcv, options={"allow_destructive": True})

    # A view reading a dataset in another location: blocked on BigQuery, a note locally.
    for name, target in (("cross_location_bigquery", "bigquery"), ("cross_location_local", "local")):
        own_spec(name, replace_once(
            "views:\n  market_data.latest_prices: {sql: sql/latest_prices.sql}\n",
            "views:\n  market_data.latest_prices: {sql: sql/latest_prices.sql}\n"
            "  market_data.legacy_training: {sql: sql/legacy_training.sql}\n"),
            {"legacy_training.sql": "SELECT date, regime FROM legacy_models.training_data_1m\n"})
        scenario(name, s(IN_SYNC) | {"target": target})

    # Names BigQuery accepts (a space, Devanagari letters with their marks) in the snapshot.
    uni = s(IN_SYNC)
    uni["tables"]["legacy_models.training_data_1m copy"] = {"type": "TABLE", "rows": 4, "columns": TRAIN_COLS}
    uni["tables"]["archive_2025.legacy_models__training_data_1m copy"] = {"type": "TABLE", "rows": 4}
    uni["tables"]["raw.मौसम 2019"] = {"type": "TABLE", "rows": 3}
    scenario("table_name_unicode", uni)

    # Legacy objects the spec neither migrates nor archives: listed.
    own_spec("legacy_left_behind", replace_once(
        "  sources: [\"*_backup_*\", legacy_models]\n  keep: [legacy_models]\n",
        "  sources: [\"*_backup_*\"]\n"), {})
    left = s(IN_SYNC)
    del left["tables"]["archive_2025.legacy_models__training_data_1m"]
    left["tables"]["legacy_models.notes"] = {"type": "TABLE", "rows": 2}
    left["tables"]["legacy_models.latest_training"] = {
        "type": "VIEW", "rows": None, "view_sql": "SELECT * FROM legacy_models.training_data_1m"}
    scenario("legacy_left_behind", left)

    # Two views created in one plan, one reading the other: the graph orders them (the
    # phase order alone, by name, would create the reader first).
    own_spec("graph_order_views", replace_once(
        "views:\n  market_data.latest_prices: {sql: sql/latest_prices.sql}\n",
        "views:\n  market_data.latest_prices: {sql: sql/latest_prices.sql}\n"
        "  market_data.a_symbols: {sql: sql/a_symbols.sql}\n"
        "  market_data.z_daily: {sql: sql/z_daily.sql}\n"),
        {"a_symbols.sql": "SELECT DISTINCT symbol FROM market_data.z_daily\n",
         "z_daily.sql": "SELECT date, symbol, close FROM market_data.prices\n"})
    scenario("graph_order_views", s(IN_SYNC) | {"observations": {"training.zl_training_1m": GOOD_OBS}})


if __name__ == "__main__":
    main()
