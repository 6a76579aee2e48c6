"""Cross-region copy budget (reconcile.plan.budget): the plan counts the copy jobs that
cross regions and, above BigQuery's daily quotas (2,000 per project, 100 per destination
table: https://cloud.google.com/bigquery/quotas#copy_jobs), says how many daily runs it takes."""

from __future__ import annotations

from test_scenarios import run_case

from reconcile.plan.actions import BackupTable, MigrateTable, RelocateDataset
from reconcile.plan.budget import budget_notes, cross_region_copies, runs_needed
from reconcile.snapshot.model import DatasetState, Snapshot


def _legacy(n: int, archive_location: str = "us-central1") -> tuple[Snapshot, list]:
    snap = Snapshot(project="cbi-v14", taken_at="2025-11-19T12:00:00+00:00",
                    datasets={"legacy": DatasetState(location="US"),
                              "market_data": DatasetState(location="us-central1"),
                              "archive": DatasetState(location=archive_location),
                              "legacy_bak": DatasetState(location="US")})
    actions = []
    for i in range(n):
        bk = f"archive.legacy__t{i}"
        actions.append(BackupTable(source=f"legacy.t{i}", backup=bk, rows=10))
        actions.append(MigrateTable(source=f"legacy.t{i}", destination=f"market_data.t{i}", rows=10,
                                    backups=((f"legacy.t{i}", bk),)))
        actions.append(BackupTable(source=f"legacy.t{i}", backup=f"legacy_bak.t{i}", rows=10))  # in-region
    return snap, actions


def test_a_backed_up_and_migrated_table_crosses_regions_once() -> None:
    """The backup (US -> archive, us-central1) is the one cross-region copy; the migration
    copies that backup in-region (budget.in_region_backup, as the executor does)."""
    desired = None  # every dataset is in the snapshot: the spec is not asked
    snap, actions = _legacy(1000)
    copies = cross_region_copies(actions, desired, snap)
    assert sum(copies.values()) == 1000 and max(copies.values()) == 1  # in-region snapshots not counted
    assert set(copies) == {f"archive.legacy__t{i}" for i in range(1000)}
    assert runs_needed(copies) == 1
    snap, actions = _legacy(2500)
    notes = budget_notes(actions, desired, snap)
    assert len(notes) == 1 and "2,500 copy job(s)" in notes[0] and "takes 2 runs" in notes[0]


def test_a_backup_in_a_third_region_leaves_two_cross_region_copies_each() -> None:
    snap, actions = _legacy(1500, archive_location="EU")
    copies = cross_region_copies(actions, None, snap)
    assert sum(copies.values()) == 3000
    notes = budget_notes(actions, None, snap)
    assert "3,000 copy job(s)" in notes[0] and "takes 2 runs" in notes[0]
    # A migration whose backup is not on the action copies from its source: counted.
    bare = [MigrateTable(source="legacy.t0", destination="market_data.t0", rows=10)]
    assert sum(cross_region_copies(bare, None, snap).values()) == 1


def test_the_per_destination_table_quota_counts_too() -> None:
    from collections import Counter

    assert runs_needed(Counter({"a.t": 250})) == 3
    assert runs_needed(Counter()) == 1


def test_blocked_copies_and_resumed_relocations_are_not_counted() -> None:
    snap, actions = _legacy(2)
    blocked = [BackupTable(source="legacy.x", backup="archive.x", rows=1, blocked_by=("flag",))]
    reloc = [RelocateDataset(name="legacy", from_location="US", to_location="EU", table_names=("a", "b"),
                             rows=2, strategy="copy"),
             RelocateDataset(name="legacy2", from_location="US", to_location="EU", table_names=("a",),
                             rows=2, strategy="copy", resume_step="copy_back"),
             RelocateDataset(name="legacy3", from_location="US", to_location="EU", table_names=("a",),
                             rows=2, strategy="replica")]
    copies = cross_region_copies(actions + blocked + reloc, None, snap)
    assert sum(copies.values()) == 2 + 2


def test_a_plan_with_cross_region_copies_says_so() -> None:
    """The approved copy-strategy relocation of wrong_region_approved copies its one table out."""
    p = run_case("wrong_region_approved")
    assert [n for n in p.notes if n.startswith("cross-region copies:")] == [
        "cross-region copies: 1 copy job(s) across regions (BigQuery allows 2,000 per project and 100 per "
        "destination table per day)"]


def test_archive_copies_into_another_region_are_counted() -> None:
    """An ArchiveDataset copies each table with a copy job (handlers/archive.py): across
    regions when the archive is elsewhere; within one location it is not counted."""
    from reconcile.plan.actions import ArchiveDataset

    snap, _ = _legacy(0)
    far = ArchiveDataset(name="legacy", archive="archive", tables=(("legacy.a", "archive.legacy__a", 3),
                                                                   ("legacy.b", "archive.legacy__b", 4)))
    near = ArchiveDataset(name="legacy_bak", archive="legacy", tables=(("legacy_bak.a", "legacy.x", 3),))
    copies = cross_region_copies([far, near], None, snap)
    assert dict(copies) == {"archive.legacy__a": 1, "archive.legacy__b": 1}
    # legacy.a is backed up into the archive's location by this plan: its archive copy is
    # made from that backup in-region (handlers/archive.py); the backup is the one crossing.
    bk = BackupTable(source="legacy.a", backup="archive.backup__legacy__a", rows=3)
    copies = cross_region_copies([bk, far], None, snap)
    assert dict(copies) == {"archive.backup__legacy__a": 1, "archive.legacy__b": 1}
