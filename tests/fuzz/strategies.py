"""Hypothesis strategies for the fuzzer's warehouse shapes (tests/fuzz/warehouse.py).

`shapes(exclude=...)` draws one `Shape`: the spec's parts (all of cbi-v14, or a few), how
many real rows each staging file keeps, which of the demo's legacy tables exist (a subset,
cut, sometimes partitioned or empty, plus an extra horizon as a superset), in which region
each dataset is, and any number of the features below. Every feature is a name in
`FEATURES`; `exclude` leaves some out (the default run keeps to shapes that pass today, see
FINDINGS.md). Nothing drawn is a value: only which real rows go where.
"""

from __future__ import annotations

from hypothesis import strategies as st

import warehouse as W

# feature name -> what it builds
FEATURES = {
    "legacy_subset": "some of the demo's legacy tables missing",
    "legacy_extra_table": "an extra legacy table (models_v4 6m horizon, built by the demo's own builder)",
    "legacy_partitioned": "legacy tables partitioned by date",
    "legacy_empty": "empty legacy tables",
    "legacy_view": "a view inside a legacy (migrated) dataset",
    "legacy_region": "legacy datasets in EU or asia-northeast1",
    "declared_exists": "declared datasets already there, in the right region",
    "declared_wrong_region": "a declared dataset already there in US, EU or asia-northeast1",
    "hand_loaded_target": "a load target already holding some of the file's rows and rows beyond them",
    "duplicate_keys": "a load target holding duplicate keys",
    "schema_extra_column": "a load target with an extra column",
    "schema_missing_column": "a load target missing a declared nullable column",
    "schema_widened": "a load target whose INT64 column is FLOAT64",
    "schema_narrowed": "an (empty) load target whose FLOAT64 column is INT64",
    "schema_required": "a load target with a REQUIRED column the spec declares NULLABLE",
    "schema_nullable_key": "a load target whose REQUIRED key column is NULLABLE",
    "half_relocation": "a `<declared>__relocating` dataset holding a table, no checkpoint",
    "tmp_leftover": "a table under the tool's temporary-table name holding real rows",
    "archive_wrong_region": "the archive dataset already there, in EU",
    "archive_collision": "two backup datasets whose <dataset>__<table> archive names collide",
    "archive_name_taken": "an archive name already taken by a table with the same count, other rows",
    "unmanaged_objects": "an unmanaged table, view and snapshot inside a declared dataset",
    "hand_copy_same": "a migration destination already there with exactly the source's rows",
    "hand_copy_other": "a migration destination already there with other rows",
    "kill": "kill -9 of the first apply at a random step",
}

LEGACY = tuple(sorted(W.demo.legacy_tables()))  # the demo's 11 legacy tables
ROWS = st.sampled_from((3, 8, 20))
KILL_POINTS = ("merge:merged", "migrate:copied", "relocate:copy_out:tables_copied",
               "relocate:copy_out", "relocate:verify_out", "relocate:delete_old", "relocate:recreate",
               "relocate:copy_back")


def _legacy_dataset(ref: str) -> str:
    return ref.split(".")[0]


@st.composite
def shapes(draw, exclude: frozenset[str] = frozenset(), light: bool = False) -> W.Shape:
    """One shape. `light` (the default run's budget): fewer legacy tables and the cbi-v14
    family one time in six, so 25 examples fit in a few minutes."""
    def want(feature: str, p: float = 0.3) -> bool:
        if feature in exclude:
            return False
        return draw(st.booleans() if p >= 0.5 else st.integers(0, 99).map(lambda x: x < p * 100))

    features: set[str] = set()
    family = draw(st.sampled_from(("cbi-v14",) + ("small",) * (5 if light else 2)))
    if family == "cbi-v14":
        parts = W.ALL_PARTS
    else:
        parts = frozenset(draw(st.sets(st.sampled_from(W.PARTS), min_size=1, max_size=4)))
    shape_parts = parts
    loads = [s for s in W.LOAD_PARTS if s in parts]
    file_rows = tuple((s, draw(st.sampled_from((0, 5, 12)))) for s in loads
                      if s not in ("cftc_commitments", "regime_calendar"))
    rows_of = dict(file_rows)

    # ---- legacy tables: the demo's layout, a subset of it, or a superset
    if light or want("legacy_subset", 0.5):
        legacy = sorted(draw(st.sets(st.sampled_from(LEGACY), min_size=1, max_size=4 if light else len(LEGACY))))
        if len(legacy) < len(LEGACY):
            features.add("legacy_subset")
    else:
        legacy = list(LEGACY)
    tables: list[W.Placed] = []
    for ref in legacy:
        rows = 0 if want("legacy_empty", 0.1) else draw(ROWS)
        part = want("legacy_partitioned", 0.15)
        features |= {"legacy_empty"} if rows == 0 else set()
        features |= {"legacy_partitioned"} if part else set()
        tables.append(W.Placed(ref, f"legacy:{ref}", rows, partitioned=part))
    if want("legacy_extra_table", 0.25):
        features.add("legacy_extra_table")
        tables.append(W.Placed("models_v4.production_training_data_6m", "training:6m", draw(ROWS)))
    datasets: dict[str, str] = {}
    for t in tables:
        ds = _legacy_dataset(t.ref)
        if ds not in datasets:
            loc = "US"
            if want("legacy_region", 0.2):
                loc = draw(st.sampled_from(W.LOCATIONS[1:]))
                features.add("legacy_region")
            datasets[ds] = loc
    views: list[W.View] = []
    snaps: list[W.Snap] = []
    fdw = [t for t in tables if t.ref.startswith("forecasting_data_warehouse.")]
    if fdw and want("legacy_view", 0.25):
        features.add("legacy_view")
        views.append(W.View("forecasting_data_warehouse.v_recent", fdw[0].ref))

    # ---- the declared datasets, before the first apply
    shape0 = W.Shape(parts=parts, family=family, file_rows=file_rows, datasets=())
    declared = shape0.declared_datasets()
    for ds in declared:
        if want("declared_exists", 0.3):
            features.add("declared_exists")
            datasets[ds] = W.RIGHT
    wrong = [ds for ds in declared if ds != "ops"]
    if wrong and want("declared_wrong_region", 0.3):
        ds = draw(st.sampled_from(wrong))
        datasets[ds] = draw(st.sampled_from(W.LOCATIONS))
        features.add("declared_wrong_region")

    def ensure(ds: str) -> None:
        datasets.setdefault(ds, W.RIGHT)

    # ---- load targets already there
    real_loads = [s for s in loads if s != "cftc_commitments"]
    if real_loads:
        stem = draw(st.sampled_from(real_loads))
        target = W.load_table_of(stem)
        cols = tuple(W.declared_columns(target))
        n = rows_of.get(stem, 12)
        variant = None
        for name in ("schema_extra_column", "schema_missing_column", "schema_widened", "schema_narrowed",
                     "schema_required", "schema_nullable_key"):
            if variant is None and want(name, 0.08):
                variant = name
        hand = want("hand_loaded_target", 0.3)
        dup = want("duplicate_keys", 0.15)
        if variant or hand or dup:
            drifted = _drift(cols, variant, W.load_keys(stem)) if variant else cols
            if variant and drifted == cols:
                variant = None  # the table has no column of that kind: no drift
            if variant or hand or dup:
                features |= {f for f, on in ((variant, bool(variant)), ("hand_loaded_target", hand),
                                             ("duplicate_keys", dup)) if on}
                rows = 0 if variant == "schema_narrowed" else draw(st.sampled_from((2, n + 3)))
                skip = draw(st.sampled_from((0, 1))) if hand else 0
                ensure(target.split(".")[0])
                tables.append(W.Placed(target, f"staging:{stem}", rows, skip=skip,
                                       duplicate=(1 if dup and rows else 0), columns=drifted))
        if want("tmp_leftover", 0.15):
            features.add("tmp_leftover")
            ensure(target.split(".")[0])
            tables.append(W.Placed(f"{target.split('.')[0]}.@tmp:{stem}", f"staging:{stem}", draw(ROWS)))

    # ---- reserved names, archive
    mine = [ds for ds in declared if ds != "ops"]
    if mine and want("half_relocation", 0.15):
        features.add("half_relocation")
        ds = draw(st.sampled_from(mine))
        datasets[ds + "__relocating"] = W.RIGHT
        tables.append(W.Placed(f"{ds}__relocating.crude_oil_prices", "legacy:forecasting_data_warehouse.crude_oil_prices",
                               draw(ROWS)))
        if draw(st.booleans()) and not any(t.ref.split(".")[0] == ds for t in tables):
            datasets.pop(ds, None)  # the dataset itself is gone: only the relocation copy holds the rows
    if "archive" in parts:
        arc = W.cbi()["archive"]["dataset"]
        if want("archive_wrong_region", 0.15):
            features.add("archive_wrong_region")
            datasets[arc] = "EU"
        if want("archive_collision", 0.15):
            features.add("archive_collision")
            datasets["a_backup_1"] = "US"
            datasets["a_backup_1__b"] = "US"
            src = "legacy:forecasting_data_warehouse_backup_20251027.crude_oil_prices"
            tables.append(W.Placed("a_backup_1.b__crude_oil_prices", src, 3))
            tables.append(W.Placed("a_backup_1__b.crude_oil_prices", src, 6))
        bk = [t for t in tables if t.ref.startswith("forecasting_data_warehouse_backup_20251027.")]
        if bk and bk[0].rows and want("archive_name_taken", 0.15):
            features.add("archive_name_taken")
            ensure(arc)
            ds, name = bk[0].ref.split(".")
            tables.append(W.Placed(f"{arc}.{ds}__{name}", bk[0].source, bk[0].rows, skip=bk[0].rows))

    # ---- unmanaged objects inside a declared dataset
    if mine and want("unmanaged_objects", 0.25):
        features.add("unmanaged_objects")
        ds = draw(st.sampled_from(mine))
        ensure(ds)
        tables.append(W.Placed(f"{ds}.hand_notes", "legacy:forecasting_data_warehouse.sp500_prices", draw(ROWS)))
        views.append(W.View(f"{ds}.v_hand_notes", f"{ds}.hand_notes"))
        snaps.append(W.Snap(f"{ds}.snap_hand_notes", f"{ds}.hand_notes"))

    # ---- migration destinations already there
    migs = [(part, t) for part in W.MIGRATION_PARTS if part in parts for t in tables
            if t.ref.split(".")[0] == W.migration_source_dataset(part)
            and W.migration_matches(part, t.ref.split(".", 1)[1])]
    if migs:
        part, t = draw(st.sampled_from(migs))
        dest = W.migration_destination(part, t.ref.split(".", 1)[1])
        if t.rows and want("hand_copy_same", 0.15):
            features.add("hand_copy_same")
            ensure(dest.split(".")[0])
            tables.append(W.Placed(dest, t.source, t.rows))
        elif want("hand_copy_other", 0.15):
            features.add("hand_copy_other")
            ensure(dest.split(".")[0])
            tables.append(W.Placed(dest, t.source, t.rows + 2))

    approve = draw(st.booleans())
    kill_at = None
    if want("kill", 0.15):
        features.add("kill")
        kill_at = draw(st.one_of(st.integers(1, 8).map(lambda k: f"step:{k}"), st.sampled_from(KILL_POINTS)))
    return W.Shape(parts=shape_parts, family=family, file_rows=file_rows, datasets=tuple(sorted(datasets.items())),
                   tables=tuple(tables), views=tuple(views), snapshots=tuple(snaps), approve=approve,
                   kill_at=kill_at, features=frozenset(features))


def _drift(cols: tuple, variant: str, keys: tuple[str, ...]) -> tuple:
    """The declared columns with one drift applied (unchanged if the table has no such column)."""
    out = list(cols)
    if variant == "schema_extra_column":
        return tuple(out + [("hand_note", "STRING", "NULLABLE")])
    for i, (n, t, m) in enumerate(out):
        if variant == "schema_missing_column" and m == "NULLABLE" and n not in keys:
            return tuple(out[:i] + out[i + 1:])
        if variant == "schema_widened" and t == "INT64" and n not in keys:
            out[i] = (n, "FLOAT64", m)
            return tuple(out)
        if variant == "schema_narrowed" and t == "FLOAT64":
            out[i] = (n, "INT64", m)
            return tuple(out)
        if variant == "schema_required" and m == "NULLABLE" and n not in keys:
            out[i] = (n, t, "REQUIRED")
            return tuple(out)
        if variant == "schema_nullable_key" and m == "REQUIRED":
            out[i] = (n, t, "NULLABLE")
            return tuple(out)
    return tuple(out)
