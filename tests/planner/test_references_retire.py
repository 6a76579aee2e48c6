"""References block deletion, and retirement's conditions, planned without BigQuery
(issue 17). A legacy dataset `old_wh` migrates to `market.fwd_*`; a dashboard view in
another dataset, a routine and a scanned SQL file read it."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconcile.plan.actions import ArchiveDataset
from reconcile.plan.planner import plan
from reconcile.plan.references import UNREADABLE, find
from reconcile.snapshot.model import DatasetState, LedgerEntry, RoutineState, Snapshot, TableState
from reconcile.spec.load import load_spec

SPEC = """\
project: cbi-v14
default_location: us-central1
datasets: {{ops: {{}}, market: {{}}, archive_2025: {{}}}}
migrations:
  - {{source: "old_wh.*", to: market, rename: {{prefix: fwd_}}}}
archive: {{dataset: archive_2025, sources: [old_backup]{archive_extra}}}
retire: [old_wh]
references:
  scan: ["scripts/*.sql"]
{waivers}
"""
VIEW = "dash.weekly"
VIEW_SQL = "SELECT date, AVG(close) AS c FROM `old_wh.crude` GROUP BY date"


def desired(tmp_path: Path, waivers: str = "", archive_extra: str = "", script: str | None = None):
    (tmp_path / "desired_state").mkdir(exist_ok=True)
    (tmp_path / "scripts").mkdir(exist_ok=True)
    if script is not None:
        (tmp_path / "scripts" / "report.sql").write_text(script)
    p = tmp_path / "desired_state" / "spec.yaml"
    p.write_text(SPEC.format(waivers=waivers, archive_extra=archive_extra))
    return load_spec(p, root=tmp_path)


def snapshot(*, view_sql: str | None = VIEW_SQL, migrated: bool = True, archived: bool = True,
             routines: dict | None = None, ledger_rows: int = 10) -> Snapshot:
    tables = {"old_wh.crude": TableState(rows=10), "old_backup.x": TableState(rows=1)}
    if view_sql is not None:
        tables[VIEW] = TableState(type="VIEW", view_sql=view_sql)
    if migrated:
        tables["market.fwd_crude"] = TableState(rows=10)
    if archived:
        tables["archive_2025.old_wh__crude"] = TableState(rows=10)
        tables["archive_2025.old_backup__x"] = TableState(rows=1)
    ledger = [LedgerEntry(table="market.fwd_crude", source="bq:old_wh.crude", content_hash="rows:10",
                          rows=ledger_rows)] if migrated else []
    datasets = {n: DatasetState(location="us-central1") for n in ("ops", "market", "archive_2025", "dash")}
    datasets |= {"old_wh": DatasetState(location="US"), "old_backup": DatasetState(location="US")}
    return Snapshot(project="cbi-v14", taken_at="2025-11-19T00:00:00+00:00", datasets=datasets,
                    tables=tables, ledger=ledger, routines={} if routines is None else routines)


def retire_action(d, s, allow=()) -> tuple[ArchiveDataset | None, tuple[str, ...], int]:
    p = plan(d, s, allow_destructive=list(allow))
    a = next((a for a in p.actions if isinstance(a, ArchiveDataset) and a.name == "old_wh"), None)
    return a, p.notes, p.exit_code()


def test_references_name_the_holder_the_legacy_table_and_its_new_name(tmp_path: Path) -> None:
    d = desired(tmp_path, script="SELECT 1;\nSELECT close\nFROM old_wh.crude")
    refs = find(d, snapshot(routines={"dash.last": RoutineState(type="SCALAR_FUNCTION",
                                                                definition="(SELECT MAX(close) FROM old_wh.crude)")}))
    assert [r.describe() for r in refs] == [
        "view dash.weekly reads old_wh.crude (now market.fwd_crude)",
        "routine dash.last reads old_wh.crude (now market.fwd_crude)",
        "scripts/report.sql:3 (SQL file) reads old_wh.crude (now market.fwd_crude)",
    ]
    assert [r.fixable for r in refs] == [False, False, True]


def test_a_view_blocks_the_retirement_until_it_reads_the_new_name(tmp_path: Path) -> None:
    d = desired(tmp_path)
    a, notes, code = retire_action(d, snapshot())
    assert a is None and code == 0  # no allow: nothing deleted, the plan says what waits
    assert notes == ("retire old_wh: waiting for: view dash.weekly reads old_wh.crude (now market.fwd_crude): "
                     "still referenced",)
    a, _, code = retire_action(d, snapshot(), allow=["delete:old_wh"])
    assert a is not None and a.delete_source and code == 3
    assert a.blocked_by == ("view dash.weekly reads old_wh.crude (now market.fwd_crude): still referenced",)
    # the view cut over: nothing blocks, and the deletion runs with its allow
    a, _, code = retire_action(d, snapshot(view_sql="SELECT date FROM market.fwd_crude"), allow=["delete:old_wh"])
    assert a is not None and a.delete_source and a.blocked_by == () and a.destructive and code == 2
    _, notes, code = retire_action(d, snapshot(view_sql="SELECT date FROM market.fwd_crude"))
    assert notes == ("retire old_wh: ready (migrated, verified, archived, unreferenced): delete it with "
                     "--allow-destructive delete:old_wh",) and code == 0


def test_a_waiver_with_a_reason_lifts_one_reference(tmp_path: Path) -> None:
    d = desired(tmp_path, waivers="  waivers: [{object: dash.weekly, reads: 'old_wh.*', reason: 'dashboard retired with it'}]")
    refs = find(d, snapshot())
    assert [(r.holder, r.waived) for r in refs] == [("dash.weekly", "dashboard retired with it")]
    a, _, _ = retire_action(d, snapshot(), allow=["delete:old_wh"])
    assert a is not None and a.blocked_by == ()
    # a waiver names what it waives: another view is still a block
    d2 = desired(tmp_path, waivers="  waivers: [{object: dash.other, reason: 'not this one'}]")
    a, _, _ = retire_action(d2, snapshot(), allow=["delete:old_wh"])
    assert a is not None and len(a.blocked_by) == 1


def test_a_definition_that_cannot_be_read_blocks(tmp_path: Path) -> None:
    d = desired(tmp_path)
    s = snapshot(view_sql="SELECT FROM (", routines={"dash.p": RoutineState(type="PROCEDURE", definition=None)})
    refs = find(d, s)
    assert {(r.holder, r.legacy) for r in refs} == {("dash.weekly", UNREADABLE), ("dash.p", UNREADABLE)}
    a, _, _ = retire_action(d, s, allow=["delete:old_wh"])
    assert a is not None and len(a.blocked_by) == 2
    assert "routine dash.p: its definition cannot be read (not readable from the warehouse)" in a.blocked_by[1]


@pytest.mark.parametrize("kwargs, missing", [
    ({"migrated": False}, "old_wh.crude is not migrated yet (market.fwd_crude does not exist)"),
    ({"ledger_rows": 9}, "old_wh.crude -> market.fwd_crude: no verified copy of its 10 rows recorded in the ledger"),
    ({"routines": None}, "references not read"),
])
def test_retirement_says_which_condition_is_missing(tmp_path: Path, kwargs: dict, missing: str) -> None:
    d = desired(tmp_path)
    s = snapshot(view_sql=None, **kwargs)
    if kwargs.get("routines", {}) is None:
        s = s.model_copy(update={"routines": None})
    _, notes, _ = retire_action(d, s)
    retire_notes = [n for n in notes if n.startswith("retire ")]
    assert len(retire_notes) == 1 and missing in retire_notes[0]
    a, _, code = retire_action(d, s, allow=["delete:old_wh"])
    assert a is not None and any(missing in b for b in a.blocked_by) and code == 3


def test_retirement_archives_first_then_deletes(tmp_path: Path) -> None:
    d = desired(tmp_path)
    s = snapshot(view_sql=None, archived=False)
    a, notes, _ = retire_action(d, s)
    # copied now (not destructive); the deletion waits for the allow
    assert a is not None and not a.delete_source and a.tables == (("old_wh.crude", "archive_2025.old_wh__crude", 10),)
    assert a.matched_by == "retire" and notes[0].startswith("retire old_wh: ready")
    a, _, _ = retire_action(d, s, allow=["delete:old_wh"])
    # with the allow: one action copies, proves and deletes (the executor proves each copy first)
    assert a is not None and a.delete_source and a.tables and a.blocked_by == ()


def test_an_archive_deletion_is_blocked_by_references_too(tmp_path: Path) -> None:
    d = desired(tmp_path, archive_extra=", delete_sources: true")
    s = snapshot(view_sql="SELECT * FROM old_backup.x")
    p = plan(d, s, allow_destructive=["delete:old_backup"])
    a = next(a for a in p.actions if isinstance(a, ArchiveDataset) and a.name == "old_backup")
    assert a.delete_source and a.blocked_by == (
        "view dash.weekly reads old_backup.x (not migrated: archived only): still referenced",)
