"""Granular allows and the archive's scope and identity, planned without BigQuery.

Issue 13: one `--allow-destructive` both replaced a table and deleted every archive
source; two sources colliding on one `<dataset>__<table>` name were "archived" into one
table. Issue 18: archive globs matched core datasets and ops; the CLI flag overrode the
spec's `delete_sources: false`. Each test below failed on main.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from reconcile.plan.actions import ArchiveDataset, MigrateTable
from reconcile.plan.planner import plan
from reconcile.snapshot.model import DatasetState, Snapshot, TableState
from reconcile.spec.load import load_spec

ROOT = Path(__file__).resolve().parents[1] / "scenarios"
BASE = ROOT / "base"


def spec(tmp_path: Path, archive: str):
    """The scenarios' base spec with its archive section replaced."""
    text = (BASE / "spec.yaml").read_text()
    head, rest = text.split("\narchive:\n", 1)
    tail = rest.split("\nexpectations:", 1)[1]
    (tmp_path / "spec.yaml").write_text(head + "\narchive:\n" + archive + "\nexpectations:" + tail)
    return load_spec(tmp_path / "spec.yaml", root=BASE)


def snapshot(name: str, **extra) -> Snapshot:
    s = Snapshot.load(ROOT / name / "snapshot.json")
    tables = {**s.tables, **extra.get("tables", {})}
    datasets = {**s.datasets, **extra.get("datasets", {})}
    return s.model_copy(update={"tables": tables, "datasets": datasets})


def archives(desired, snap, allow=False) -> dict[str, ArchiveDataset]:
    return {a.name: a for a in plan(desired, snap, allow_destructive=allow).actions
            if isinstance(a, ArchiveDataset)}


DELETE_SPEC = '  dataset: archive_2025\n  sources: ["*_backup_*", legacy_models]\n  keep: [legacy_models]\n' \
              '  delete_sources: true'
COPIED = {"archive_2025.models_backup_oct27__model_a": TableState(rows=7),
          "archive_2025.models_backup_oct27__model_b": TableState(rows=3)}


def test_parse_allows() -> None:
    from reconcile.plan.allows import AllowError, Allows

    assert Allows.of(True).tokens == ("replace",)  # bare: replacements only, never deletes
    a = Allows.of(["replace:training.zl_*", "delete:old_backup_1"])
    assert a.replace("training.zl_training_3m") and not a.replace("market_data.prices")
    assert a.delete("old_backup_1") and not a.delete("old_backup_2")
    assert not Allows.of(True).delete("old_backup_1")
    for bad in ("drop:x", "replace:", "delete:x;DROP", "everything"):
        with pytest.raises(AllowError):
            Allows.of([bad])


def test_bare_allow_never_deletes_an_archive_source(tmp_path: Path) -> None:
    desired = spec(tmp_path, DELETE_SPEC)
    snap = snapshot("archive", tables=COPIED)
    a = archives(desired, snap, allow=True)["models_backup_oct27"]
    assert a.is_blocked and "destructive: needs --allow-destructive delete:models_backup_oct27" in a.blocked_by
    named = archives(desired, snap, allow=["delete:models_backup_oct27"])["models_backup_oct27"]
    assert named.delete_source and not named.blocked_by


def test_spec_delete_sources_true_alone_does_not_delete(tmp_path: Path) -> None:
    a = archives(spec(tmp_path, DELETE_SPEC), snapshot("archive"))["models_backup_oct27"]
    assert not a.delete_source and a.tables  # copied, not deleted


def test_the_cli_never_overrides_delete_sources_false(tmp_path: Path) -> None:
    desired = spec(tmp_path, '  dataset: archive_2025\n  sources: ["*_backup_*"]')
    for allow in (True, ["delete"], ["delete:models_backup_oct27"]):
        a = archives(desired, snapshot("archive"), allow=allow)["models_backup_oct27"]
        assert not a.delete_source, allow


def test_replace_allow_names_one_table() -> None:
    desired = load_spec(BASE / "spec.yaml", root=BASE)
    snap = Snapshot.load(ROOT / "migrations" / "snapshot.json")

    def replacing(allow):
        return next(a for a in plan(desired, snap, allow_destructive=allow).actions
                    if isinstance(a, MigrateTable) and a.replace_rows is not None)

    assert replacing(["replace:training.zl_training_3m"]).blocked_by == ()
    other = replacing(["replace:training.other", "delete"])
    assert other.blocked_by == ("destructive: needs --allow-destructive replace:training.zl_training_3m",)


def test_archive_globs_never_match_declared_ops_archive_or_relocation_datasets(tmp_path: Path) -> None:
    desired = spec(tmp_path, '  dataset: archive_2025\n  sources: ["*"]\n  delete_sources: true')
    snap = snapshot("archive", datasets={"market_data__relocating": DatasetState(location="US")})
    got = archives(desired, snap, allow=["delete"])
    assert set(got) == {"legacy_models", "models_backup_oct27"}, sorted(got)
    assert {a.matched_by for a in got.values()} == {"*"}


def test_archive_name_collision_is_a_block_naming_both(tmp_path: Path) -> None:
    desired = spec(tmp_path, '  dataset: archive_2025\n  sources: ["*_backup_*"]')
    us = DatasetState(location="US")
    snap = snapshot("archive", datasets={"x_backup_1__a": us, "x_backup_1": us},
                    tables={"x_backup_1__a.t": TableState(rows=5), "x_backup_1.a__t": TableState(rows=5)})
    got = archives(desired, snap)
    for ds in ("x_backup_1__a", "x_backup_1"):
        reason = " ".join(got[ds].blocked_by)
        assert "collision" in reason and "x_backup_1__a.t" in reason and "x_backup_1.a__t" in reason


def test_an_archive_name_taken_by_other_rows_is_a_block(tmp_path: Path) -> None:
    desired = spec(tmp_path, '  dataset: archive_2025\n  sources: ["*_backup_*"]')
    snap = snapshot("archive", tables={"archive_2025.models_backup_oct27__model_a": TableState(rows=9)})
    a = archives(desired, snap)["models_backup_oct27"]
    assert a.is_blocked and "is not a copy of models_backup_oct27.model_a" in " ".join(a.blocked_by)


def test_a_snapshot_in_a_source_refuses_its_deletion(tmp_path: Path) -> None:
    desired = spec(tmp_path, DELETE_SPEC)
    snap = snapshot("archive", tables={**COPIED, "models_backup_oct27.snap": TableState(type="SNAPSHOT", rows=7),
                                       "archive_2025.models_backup_oct27__snap": TableState(rows=7)})
    a = archives(desired, snap, allow=["delete:models_backup_oct27"])["models_backup_oct27"]
    assert a.is_blocked and "models_backup_oct27.snap (SNAPSHOT)" in " ".join(a.blocked_by)
