"""Renderers, tested on hand-built plans: no database, no BigQuery.

Golden files live in `golden/`. To regenerate them after an intended change:

    UPDATE_GOLDEN=1 .venv/bin/python -m pytest -p no:bqemulator tests/render -q

then read the diff before committing: the tests compare against what is committed.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from reconcile.plan.actions import (
    ACTIONS,
    Action,
    AddColumns,
    ArchiveDataset,
    BackupTable,
    CreateDataset,
    CreateTable,
    CreateView,
    ExpectationFailed,
    FlagRecreate,
    FlagSchemaConflict,
    MergeLoad,
    MigrateTable,
    MissingSource,
    Plan,
    RefuseLoad,
    RelocateDataset,
    RunTransform,
    UnknownAction,
    Unmanaged,
    Validate,
)
from reconcile.render.plan import (
    MARKDOWN_LIMIT,
    RENDER_REGISTRY,
    describe,
    render_json,
    render_markdown,
    render_text,
)

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def check_golden(name: str, actual: str) -> None:
    path = GOLDEN / name
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(actual, encoding="utf-8")
    assert path.exists(), f"missing golden file {path}; run with UPDATE_GOLDEN=1 to create it"
    assert actual == path.read_text(encoding="utf-8"), f"{name} differs from the golden file"


# ---------------------------------------------------------------- plans

HASH = "sha256:abcd1234" + "0" * 56


def one_of_each() -> tuple[Action, ...]:
    """One action of every kind, with the cbi-v14 names, in planner (phase) order."""
    return (
        CreateDataset(name="raw_intelligence", location="us-central1"),
        FlagRecreate(name="market_data", actual_location="US", desired_location="us-central1",
                     tables=3, rows=1_234_567),
        RelocateDataset(name="signals", from_location="EU", to_location="us-central1",
                        table_names=("a", "b"), rows=20_000, resume_step="copy_back"),
        CreateTable(table="raw_intelligence.intelligence_news_alpha_raw_daily",
                    ddl_file="sql/ddl/news_alpha.sql",
                    columns=(("date", "DATE", "REQUIRED"), ("headline", "STRING", "NULLABLE")),
                    partition_by="date", cluster_by=("source", "ticker")),
        AddColumns(table="features.master_features",
                   columns=tuple((f"f{i}", "FLOAT64", "NULLABLE") for i in range(7)), rows=6_000),
        FlagSchemaConflict(table="training.zl_training_prod_allhistory_1m",
                           changes=("target: FLOAT64 -> STRING", "regime: dropped"), rows=1_448),
        BackupTable(source="forecasting_data_warehouse.crude_oil_prices",
                    backup="z_archive_20251119.crude_oil_prices_backup", rows=1_234),
        MigrateTable(source="forecasting_data_warehouse.crude_oil_prices",
                     destination="market_data.fwd_crude_oil_prices", rows=1_234,
                     blocked_by=("FlagRecreate:market_data",)),
        MergeLoad(table="market_data.yahoo_historical_prefixed",
                  source="staging/yahoo_historical_prefixed.parquet", content_hash=HASH,
                  rows=6_380, keys=("date", "symbol")),
        RefuseLoad(table="raw_intelligence.fred_macro_expanded",
                   source="staging/fred_macro_expanded.parquet",
                   problems=("12 rows with placeholder value 0.0 in dgs10",), rows=9_452),
        MissingSource(table="raw_intelligence.cftc_commitments",
                      source="staging/cftc_commitments.parquet",
                      reason="no offline source for CFTC data"),
        RunTransform(name="daily_aggregation", sql_file="sql/transforms/daily_aggregation.sql",
                     outputs=("features.daily_aggregates",), reason="inputs changed"),
        CreateView(view="monitoring.data_quality", sql_file="sql/views/data_quality.sql"),
        Validate(table="training.zl_training_prod_allhistory_1m",
                 checks=("min_distinct(regime) >= 7", "no placeholders")),
        ExpectationFailed(table="training.zl_training_prod_allhistory_1w",
                          check="min_distinct(regime)", expected=">= 7", observed="1"),
        ArchiveDataset(name="models_v5", archive="z_archive_20251119",
                       tables=(("models_v5.m1", "z_archive_20251119.models_v5__m1", 100),
                               ("models_v5.m2", "z_archive_20251119.models_v5__m2", 2_000)),
                       keep=True),
        Unmanaged(object="legacy_misc.scratch", object_type="table", rows=42),
    )


def representative_plan() -> Plan:
    folded = tuple(Unmanaged(object=f"forecasting_data_warehouse.old_{i}", object_type="table",
                             rows=1_000 * i) for i in range(1, 5))
    folded += (Unmanaged(object="forecasting_data_warehouse.v_old", object_type="view"),)
    return Plan(project="cbi-v14", actions=one_of_each() + folded,
                snapshot_taken_at="2025-11-19T06:00:00Z",
                notes=("row counts from TABLE_STORAGE may lag by minutes",))


def test_representative_plan_has_every_kind():
    # Guards the goldens: a new action kind must show up in them.
    assert {type(a) for a in representative_plan().actions} == set(ACTIONS)


# ---------------------------------------------------------------- registry


def test_registry_covers_every_action_class():
    assert set(RENDER_REGISTRY) == set(ACTIONS)


def test_no_action_field_collides_with_json_text_key():
    assert all("text" not in cls.field_names() for cls in ACTIONS)


@dataclass(frozen=True, kw_only=True)
class Teleport(Action):
    name: str

    @property
    def target(self) -> str:
        return self.name


@dataclass(frozen=True, kw_only=True)
class LoudCreateDataset(CreateDataset):
    """A subclass of a known kind is a new kind: it must be registered, not rendered as its parent."""


@pytest.mark.parametrize("renderer", [render_text, render_markdown, render_json, describe],
                         ids=["text", "markdown", "json", "describe"])
@pytest.mark.parametrize("action", [Teleport(name="x"),
                                    LoudCreateDataset(name="x", location="US")],
                         ids=["new-action", "subclass"])
def test_unknown_action_raises(renderer, action):
    arg = action if renderer is describe else Plan(project="p", actions=(action,))
    with pytest.raises(UnknownAction, match=type(action).__name__):
        renderer(arg)


# ---------------------------------------------------------------- one-line descriptions


@pytest.mark.parametrize("action, expected", [
    (CreateDataset(name="raw_intelligence", location="us-central1"),
     "create dataset raw_intelligence in us-central1"),
    (FlagRecreate(name="market_data", actual_location="US", desired_location="us-central1",
                  tables=3, rows=10),
     "market_data is in US, must be in us-central1: recreate needed "
     "(approve with --approve-relocation market_data)"),
    (MergeLoad(table="market_data.yahoo", source="staging/x.parquet", content_hash=HASH,
               rows=6_380, keys=("date", "symbol")),
     "merge staging/x.parquet (6,380 rows, sha256 abcd1234…) into market_data.yahoo on (date, symbol)"),
    # A bare 64-hex digest is a sha256 too.
    (MergeLoad(table="d.t", source="s.parquet", content_hash="abcd1234" + "f" * 56, rows=1,
               keys=("k",)),
     "merge s.parquet (1 row, sha256 abcd1234…) into d.t on (k)"),
    (MigrateTable(source="forecasting_data_warehouse.crude_oil_prices",
                  destination="market_data.fwd_crude_oil_prices", rows=1_234),
     "copy forecasting_data_warehouse.crude_oil_prices -> market_data.fwd_crude_oil_prices "
     "(1,234 rows), verify counts"),
    (MigrateTable(source="a.x", destination="b.x", rows=10, replace_rows=7),
     "replace b.x (7 rows) with a copy of a.x (10 rows), verify counts"),
    (ExpectationFailed(table="training.x", check="min_distinct(regime)", expected=">= 7",
                       observed="1"),
     "training.x: min_distinct(regime) expected >= 7, observed 1"),
    (AddColumns(table="f.m", columns=tuple((f"c{i}", "INT64", "NULLABLE") for i in range(400))),
     "add 400 columns to f.m: c0 INT64, c1 INT64, c2 INT64, c3 INT64, c4 INT64, … (+395 more)"),
    (CreateView(view="monitoring.v", sql_file="sql/views/v.sql", replace=True),
     "replace view monitoring.v (definition differs) from sql/views/v.sql"),
    (ArchiveDataset(name="b", archive="z", tables=(("b.t", "z.b__t", 5),), delete_source=True),
     "archive dataset b into z (1 table, 5 rows), then delete dataset b"),
    (Unmanaged(object="legacy.t", object_type="table", rows=1_000_000),
     "unmanaged table legacy.t (1,000,000 rows): not touched"),
])
def test_description_is_specific(action, expected):
    assert describe(action) == expected


# ---------------------------------------------------------------- text


def test_text_golden():
    check_golden("representative.txt", render_text(representative_plan()))


def test_text_groups_by_sorted_dataset_and_shows_blocked_reason():
    text = render_text(representative_plan())
    lines = text.splitlines()
    headers = [line for line in lines[2:] if line and not line.startswith((" ", "Plan:", "Notes:"))]
    assert headers == ["features", "forecasting_data_warehouse", "legacy_misc", "market_data",
                       "models_v5", "monitoring", "raw_intelligence", "signals", "training"]
    migrate = next(i for i, line in enumerate(lines) if "fwd_crude_oil_prices" in line)
    assert lines[migrate].startswith("  ✗ copy ")
    assert lines[migrate + 1] == "      blocked by: FlagRecreate:market_data"
    assert "[3 tables, 1,234,567 rows]" in text


def test_text_action_without_dataset_goes_last():
    plan = Plan(project="p", actions=(
        RunTransform(name="refresh", sql_file="sql/t.sql", outputs=(), reason="scheduled"),
        CreateDataset(name="zzz", location="US"),
    ))
    headers = [line for line in render_text(plan).splitlines()[2:]
               if line and not line.startswith((" ", "Plan:"))]
    assert headers == ["zzz", "(no dataset)"]


def test_text_totals_line():
    last = render_text(representative_plan()).splitlines()[-1]
    assert last == ("Plan: 3 to create, 1 to change, 1 to relocate, 1 to back up, 1 to load, "
                    "1 transform to run, 1 to validate, 1 to archive, 1 destructive; "
                    "6 blocked (need approval or attention); 6 unmanaged (not touched).")


def test_text_folds_unmanaged_only_beyond_a_few():
    text = render_text(representative_plan())
    assert "old_1" in text and "legacy_misc.scratch" in text
    # Five in forecasting_data_warehouse: one folded line; one in legacy_misc: listed.
    assert sum("old_" in line for line in text.splitlines()) == 1
    assert "  ? 5 unmanaged (4 tables, 1 view; 10,000 rows): old_1, old_2, old_3, … (+2 more): not touched" in text
    assert "  ? unmanaged table legacy_misc.scratch (42 rows): not touched" in text


def test_empty_plan_is_in_sync():
    plan = Plan(project="cbi-v14", actions=())
    assert render_text(plan).splitlines()[-1] == "In sync: nothing to do."
    assert render_markdown(plan).startswith("**In sync: nothing to do.**")
    assert json.loads(render_json(plan))["exit_code"] == 0


def test_only_unmanaged_is_in_sync():
    plan = Plan(project="p", actions=(Unmanaged(object="d.t", object_type="table"),))
    lines = render_text(plan).splitlines()
    assert lines[-2:] == ["1 unmanaged (not touched).", "In sync: nothing to do."]


def test_colour_only_when_asked():
    plan = representative_plan()
    plain = render_text(plan)
    coloured = render_text(plan, color=True)
    assert not ANSI.search(plain)
    assert "\x1b[32m+\x1b[0m" in coloured  # a green create
    assert "\x1b[1;31m✗\x1b[0m" in coloured  # a red blocked
    assert ANSI.sub("", coloured) == plain  # colour adds nothing but codes
    assert "\x1b" not in render_markdown(plan) and "\x1b" not in render_json(plan)


# ---------------------------------------------------------------- Markdown


def test_markdown_golden():
    check_golden("representative.md", render_markdown(representative_plan()))


def test_markdown_summary_line_first():
    actions = (
        CreateDataset(name="a", location="us-central1"),
        CreateDataset(name="b", location="us-central1"),
        CreateTable(table="a.t"),
        FlagRecreate(name="market_data", actual_location="US", desired_location="us-central1",
                     tables=1, rows=1),
        MigrateTable(source="old.t", destination="a.t2", rows=5),
    )
    first = render_markdown(Plan(project="p", actions=actions)).splitlines()[0]
    assert first.startswith("**3 to create, 1 to migrate, 1 blocked**: "
                            "market_data is in US, must be in us-central1")


def test_markdown_order_blocked_then_summary_then_details():
    md = render_markdown(representative_plan())
    blocked = md.index("### Blocked or destructive")
    summary = md.index("### Summary")
    details = md.index("<details>")
    assert blocked < summary < details
    section = md[blocked:summary]
    # Every blocked or destructive action, and nothing else, is in that first table.
    assert section.count("\n| ✗ ") == 6
    assert section.count("\n| ! ") == 1  # the approved relocation
    assert "create dataset" not in section


def test_markdown_caps_rows_per_kind():
    actions = tuple(CreateTable(table=f"d.t{i:03}") for i in range(60))
    md = render_markdown(Plan(project="p", actions=actions), max_rows_per_kind=50)
    assert "d.t049" in md and "d.t050" not in md
    assert "… and 10 more" in md
    assert "| CreateTable | 60 | 0 | 0 |" in md


def test_markdown_escapes_cells():
    nasty = "d.t|`x`<script>&"
    md = render_markdown(Plan(project="p", actions=(CreateTable(table=nasty),)))
    assert "<script>" not in md and "`x`" not in md
    assert "d.t\\|\\`x\\`&lt;script&gt;&amp;" in md
    row = next(line for line in md.splitlines() if line.startswith("| + "))
    # 5 cells: 6 unescaped pipes, however many the value held.
    assert len(re.findall(r"(?<!\\)\|", row)) == 6


def test_markdown_rejects_negative_cap():
    with pytest.raises(ValueError):
        render_markdown(Plan(project="p", actions=()), max_rows_per_kind=-1)


def huge_plan() -> Plan:
    """10,000 actions of every kind; the only destructive one comes last in plan order."""
    kinds = [a for a in one_of_each() if not a.destructive and not a.is_blocked]
    actions: list[Action] = []
    i = 0
    while len(actions) < 9_990:
        for a in kinds:
            target = f"dataset_{i % 40:02}.table_{i:05}_" + "x" * 60
            actions.append(Unmanaged(object=target, object_type="table", rows=i)
                           if isinstance(a, Unmanaged) else
                           CreateTable(table=target, columns=(("c", "STRING", "NULLABLE"),))
                           if i % 2 else
                           MergeLoad(table=target, source=f"staging/{i}.parquet",
                                     content_hash=HASH, rows=i, keys=("date",)))
            i += 1
    blocked = [ExpectationFailed(table=f"training.t{j}", check="no_placeholders",
                                 expected="0", observed=str(j)) for j in range(9)]
    actions += blocked
    actions.append(MigrateTable(source="legacy.keep_me", destination="market_data.fwd_keep_me",
                                rows=10, replace_rows=99))
    return Plan(project="cbi-v14", actions=tuple(actions[-10_000:]))


def test_markdown_bounded_and_destructive_first_on_10k_actions():
    plan = huge_plan()
    assert len(plan.actions) == 10_000
    for cap in (50, 10_000):
        md = render_markdown(plan, max_rows_per_kind=cap)
        assert len(md) < MARKDOWN_LIMIT
        assert len(md.encode("utf-8")) < MARKDOWN_LIMIT
        # Blocked and destructive come before anything else, though last in the plan.
        assert md.index("fwd_keep_me") < md.index("### Summary") < md.index("<details>")
        assert md.index("training.t0") < md.index("### Summary")
        # The summary table is never cut.
        assert "| **total** | **10,000** |" in md
    # Uncapped rows cannot all fit: the cut is said out loud.
    md = render_markdown(plan, max_rows_per_kind=10_000)
    assert "_Truncated to stay under 65,536 characters" in md
    assert md.rstrip().endswith("The JSON rendering lists every action._")
    # Whatever was cut, no <details> is left open.
    assert md.count("<details>") == md.count("</details>")


# ---------------------------------------------------------------- JSON


def test_json_golden():
    check_golden("representative.json", render_json(representative_plan()))


def test_json_round_trip_and_stability():
    plan = representative_plan()
    text = render_json(plan)
    assert text.endswith("}\n")
    assert text == render_json(plan)
    doc = json.loads(text)
    assert json.dumps(doc, sort_keys=True, indent=2) + "\n" == text  # keys sorted, indent 2
    assert doc["schema_version"] == 1
    assert doc["project"] == "cbi-v14"
    assert doc["exit_code"] == plan.exit_code() == 3
    assert [a["key"] for a in doc["actions"]] == [a.key for a in plan.actions]
    for got, action in zip(doc["actions"], plan.actions):
        assert got.pop("text") == describe(action)
        assert got == json.loads(json.dumps(action.to_dict()))
    s = doc["summary"]
    assert s["counts"]["Unmanaged"] == 6 and s["counts"]["CreateDataset"] == 1
    assert set(s["counts"]) == {cls.__name__ for cls in ACTIONS}
    assert (s["to_create"], s["blocked"], s["destructive"], s["unmanaged"]) == (3, 6, 1, 6)
    assert s["changes"] == len(plan.changes)


def test_json_exit_code_follows_the_plan():
    pending = Plan(project="p", actions=(CreateDataset(name="d", location="US"),))
    assert json.loads(render_json(pending))["exit_code"] == 2
