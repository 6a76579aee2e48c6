"""Writes each scenario's snapshot.json (and sources/options) from one in-sync base.

The JSON files are the fixtures the tests read; this script only saves typing
when a scenario is added or the snapshot format changes:
    python tests/scenarios/_build.py
"""

import copy
import json
from pathlib import Path

HERE = Path(__file__).parent
H1 = "1" * 64
H2 = "2" * 64

PRICES_COLS = [{"name": "date", "type": "DATE", "mode": "REQUIRED"},
               {"name": "symbol", "type": "STRING", "mode": "REQUIRED"},
               {"name": "close", "type": "FLOAT64", "mode": "NULLABLE"}]
WEATHER_COLS = [{"name": "date", "type": "DATE", "mode": "REQUIRED"},
                {"name": "station", "type": "STRING", "mode": "REQUIRED"},
                {"name": "temp_max", "type": "FLOAT64", "mode": "NULLABLE"}]
NEWS_COLS = [{"name": "published_at", "type": "TIMESTAMP", "mode": "REQUIRED"},
             {"name": "url", "type": "STRING", "mode": "REQUIRED"},
             {"name": "topics", "type": "ARRAY<STRING>", "mode": "NULLABLE"},
             {"name": "score", "type": "FLOAT64", "mode": "NULLABLE"}]
TRAIN_COLS = [{"name": "date", "type": "DATE", "mode": "NULLABLE"},
              {"name": "regime", "type": "STRING", "mode": "NULLABLE"},
              {"name": "training_weight", "type": "INT64", "mode": "NULLABLE"}]
GOOD_OBS = {"rows": 10, "distinct:regime": 8, "min:training_weight": 50, "max:training_weight": 900,
            "placeholders:regime": 0, "coverage_min:date": "2000-01-03", "coverage_max:date": "2025-12-31"}

IN_SYNC = {
    "version": 1, "project": "demo-project", "taken_at": "2025-11-19T12:00:00+00:00", "target": "local",
    "datasets": {d: {"location": "us-central1", "labels": {}} for d in
                 ["market_data", "raw", "training", "ops", "archive_2025"]}
    | {"legacy_models": {"location": "US", "labels": {}}},
    "tables": {
        "market_data.prices": {"type": "TABLE", "rows": 150, "columns": PRICES_COLS},
        "market_data.latest_prices": {"type": "VIEW", "rows": None, "columns": None,
                                      "view_sql": "SELECT symbol, MAX(date) AS date FROM market_data.prices GROUP BY symbol"},
        "raw.weather": {"type": "TABLE", "rows": 40, "columns": WEATHER_COLS},
        "raw.news": {"type": "TABLE", "rows": 0, "columns": NEWS_COLS},
        "legacy_models.training_data_1m": {"type": "TABLE", "rows": 10, "columns": TRAIN_COLS},
        "training.zl_training_1m": {"type": "TABLE", "rows": 10, "columns": TRAIN_COLS},
        "archive_2025.legacy_models__training_data_1m": {"type": "TABLE", "rows": 10},
        "ops.load_ledger": {"type": "TABLE", "rows": 4},
    },
    "ledger": [
        {"table": "market_data.prices", "source": "staging/prices.parquet", "content_hash": H1, "rows": 150},
        {"table": "raw.weather", "source": "staging/weather.parquet", "content_hash": H2, "rows": 40},
        {"table": "training.zl_training_1m", "source": "bq:legacy_models.training_data_1m",
         "content_hash": "rows:10", "rows": 10},
    ],
    "observations": {"training.zl_training_1m": GOOD_OBS},
    "checkpoints": {},
    "requests": 6,
}
SOURCES = [
    {"source": "staging/prices.parquet", "table": "market_data.prices", "exists": True, "rows": 150,
     "columns": [["date", "DATE"], ["symbol", "STRING"], ["close", "FLOAT64"]], "content_hash": H1,
     "problems": [], "error": None},
    {"source": "staging/weather.parquet", "table": "raw.weather", "exists": True, "rows": 40,
     "columns": [["date", "DATE"], ["station", "STRING"], ["temp_max", "FLOAT64"]], "content_hash": H2,
     "problems": [], "error": None},
]


def scenario(name, snap, sources=None, options=None):
    d = HERE / name
    d.mkdir(exist_ok=True)
    (d / "snapshot.json").write_text(json.dumps(snap, indent=2, sort_keys=True) + "\n")
    for fname, obj in (("sources.json", sources), ("options.json", options)):
        if obj is not None:
            (d / fname).write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n")


def main():
    s = copy.deepcopy
    scenario("in_sync", s(IN_SYNC))

    empty = s(IN_SYNC)
    empty.update(datasets={}, tables={}, ledger=[], observations={})
    scenario("empty_project", empty)

    wrong = s(IN_SYNC)
    wrong["datasets"]["market_data"]["location"] = "US"
    del wrong["tables"]["market_data.prices"]
    scenario("wrong_region", wrong)
    scenario("wrong_region_approved", s(wrong), options={"approvals": ["market_data"]})

    drift = s(IN_SYNC)
    drift["tables"]["market_data.prices"]["columns"] = PRICES_COLS[:2]
    drift["tables"]["raw.weather"]["columns"] = WEATHER_COLS[:2] + [
        {"name": "temp_max", "type": "STRING", "mode": "NULLABLE"},
        {"name": "humidity", "type": "FLOAT64", "mode": "NULLABLE"}]
    drift["ledger"] = [e for e in drift["ledger"] if e["table"] != "raw.weather"]
    scenario("schema_drift", drift)

    loads = s(IN_SYNC)
    loads["ledger"][0]["content_hash"] = "0" * 64
    bad = s(SOURCES)
    bad[1]["content_hash"] = "3" * 64
    bad[1]["problems"] = ["column station: 2 placeholder value(s), e.g. 'TODO' at row 7"]
    scenario("loads", loads, sources=bad)
    missing = s(SOURCES)
    missing[1] = {"source": "staging/weather.parquet", "table": "raw.weather", "exists": False,
                  "rows": 0, "columns": [], "content_hash": "", "problems": [], "error": None}
    scenario("missing_source", s(IN_SYNC), sources=missing)
    mismatch = s(SOURCES)
    mismatch[0]["content_hash"] = "4" * 64
    mismatch[0]["columns"] = [["date", "STRING"], ["symbol", "STRING"], ["close", "FLOAT64"], ["volume", "INT64"]]
    scenario("load_schema_mismatch", s(IN_SYNC), sources=mismatch)

    mig = s(IN_SYNC)
    del mig["tables"]["training.zl_training_1m"]
    mig["ledger"] = mig["ledger"][:2]
    del mig["observations"]["training.zl_training_1m"]
    mig["tables"]["legacy_models.training_data_3m"] = {"type": "TABLE", "rows": 20, "columns": TRAIN_COLS}
    mig["tables"]["training.zl_training_3m"] = {"type": "TABLE", "rows": 15, "columns": TRAIN_COLS}
    mig["tables"]["archive_2025.legacy_models__training_data_3m"] = {"type": "TABLE", "rows": 20}
    mig["observations"]["training.zl_training_3m"] = GOOD_OBS | {"rows": 15}
    scenario("migrations", mig)
    scenario("migrations_allow_destructive", s(mig), options={"allow_destructive": True})

    arc = s(IN_SYNC)
    arc["datasets"]["models_backup_oct27"] = {"location": "US", "labels": {}}
    arc["tables"]["models_backup_oct27.model_a"] = {"type": "TABLE", "rows": 7}
    arc["tables"]["models_backup_oct27.model_b"] = {"type": "TABLE", "rows": 3}
    arc["tables"]["legacy_models.training_data_2w"] = {"type": "TABLE", "rows": 5, "columns": TRAIN_COLS}
    arc["tables"]["training.zl_training_2w"] = {"type": "TABLE", "rows": 5, "columns": TRAIN_COLS}
    arc["observations"]["training.zl_training_2w"] = GOOD_OBS | {"rows": 5}
    scenario("archive", arc)
    scenario("archive_allow_destructive", s(arc), options={"allow_destructive": True})

    exp = s(IN_SYNC)
    exp["observations"]["training.zl_training_1m"] = {
        "rows": 10, "distinct:regime": 1, "min:training_weight": 1, "max:training_weight": 1,
        "placeholders:regime": 10, "coverage_min:date": "2010-01-04", "coverage_max:date": "2018-11-26"}
    scenario("expectations", exp)

    um = s(IN_SYNC)
    um["datasets"]["scratch"] = {"location": "US", "labels": {}}
    um["tables"]["scratch.tmp"] = {"type": "TABLE", "rows": 3}
    um["tables"]["raw.weather_copy"] = {"type": "TABLE", "rows": 40}
    scenario("unmanaged", um)

    views = s(IN_SYNC)
    views["tables"]["market_data.latest_prices"]["view_sql"] = "SELECT symbol FROM market_data.prices"
    scenario("view_drift", views)

    resume = s(IN_SYNC)
    del resume["datasets"]["market_data"]
    del resume["tables"]["market_data.prices"]
    del resume["tables"]["market_data.latest_prices"]
    resume["datasets"]["market_data__relocating"] = {"location": "us-central1", "labels": {}}
    resume["tables"]["market_data__relocating.prices"] = {"type": "TABLE", "rows": 150}
    resume["checkpoints"] = {"market_data": "delete_old"}
    scenario("relocation_resume", resume)


if __name__ == "__main__":
    main()
