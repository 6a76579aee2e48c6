"""The fuzzer's warehouses: a shape (plain data), the spec it is run against, and the seeding.

A `Shape` says what one example's warehouse and spec look like; it is plain, hashable,
JSON-serialisable data (a counterexample is replayed from its JSON, FINDINGS.md). Nothing
in a shape is a value: every row the fuzzer puts in BigQuery is a real row of the demo's
sources (`reconcile.demo.data`: the legacy tables and the staging files, built from public
data shipped in PyPI packages), cut to the first N rows in key order. The shape only picks
which real rows go where, under which names, in which region, with which schema.

The spec is the cbi-v14 spec (desired_state/cbi-v14.yaml) projected under the example's
dataset prefix: its datasets, the declared columns of its load targets, its loads (the
staging files cut like the tables: `min_rows` dropped, since a cut file cannot meet the
production floors), its three legacy migrations and its archive rule. `Shape.parts` picks
which of them the spec keeps: all of them (the cbi-v14 family) or a few (a small generated
spec). Transforms, views and expectations are left out: their SQL names unprefixed tables.

No product code is changed or mocked here: seeding goes through the same adapter the tool
uses (create_dataset with its location, create_table, load jobs, DDL), as
`reconcile demo seed` does.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import shutil
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from reconcile.bq.adapter import Adapter
from reconcile.demo import data as demo
from reconcile.spec.sources import arrow_to_bq

REPO = Path(__file__).resolve().parents[2]
CBI_SPEC = REPO / "desired_state" / "cbi-v14.yaml"
SEEDS = REPO / "desired_state" / "seeds"

LOCATIONS = ("US", "EU", "asia-northeast1")  # where the audit can find a dataset (all wrong)
RIGHT = "us-central1"  # cbi-v14's default_location

# ---------------------------------------------------------------- the cbi-v14 spec, as data


@functools.cache
def cbi() -> dict[str, Any]:
    return yaml.safe_load(CBI_SPEC.read_text(encoding="utf-8"))


# Loads of cbi-v14 the fuzzer can include, by the staging file's stem. cftc_commitments
# has no real offline source: included, it is a MissingSource (a known gap on `local`).
LOAD_PARTS = ("yahoo_historical_prefixed", "fred_macro_expanded", "weather_granular",
              "us_macro_quarterly", "vix_daily", "cftc_commitments", "regime_calendar")
MIGRATION_PARTS = ("fwd", "training", "yahoo")  # cbi-v14's three migrations, in its order
PARTS = LOAD_PARTS + MIGRATION_PARTS + ("archive",)
ALL_PARTS = frozenset(PARTS)


def _load_of(stem: str) -> dict[str, Any]:
    for ld in cbi()["loads"]:
        if Path(ld["source"]).stem == stem:
            return ld
    raise KeyError(stem)


def load_table_of(stem: str) -> str:
    """The (unprefixed) table cbi-v14 loads the file `stem` into."""
    return _load_of(stem)["table"]


def load_keys(stem: str) -> tuple[str, ...]:
    return tuple(_load_of(stem)["keys"])


def declared_columns(table: str) -> list[tuple[str, str, str]]:
    t = cbi()["tables"][table]
    return [(c["name"], c["type"], c.get("mode", "NULLABLE")) for c in t["columns"]]


def _migration(part: str) -> dict[str, Any]:
    return cbi()["migrations"][MIGRATION_PARTS.index(part)]


def migration_source_dataset(part: str) -> str:
    return _migration(part)["source"].split(".", 1)[0]


def migration_destination(part: str, table: str) -> str:
    """(unprefixed) 'dataset.table' cbi-v14's migration `part` copies legacy `table` to."""
    mg = _migration(part)
    rn = mg.get("rename") or {}
    name = table
    if rn.get("replace"):
        old, new = rn["replace"]
        name = name.replace(old, new)
    name = rn.get("prefix", "") + name
    return f"{mg['to']}.{name}"


def migration_matches(part: str, table: str) -> bool:
    import fnmatch

    return fnmatch.fnmatchcase(table, _migration(part)["source"].split(".", 1)[1])


# ---------------------------------------------------------------- the shape


@dataclass(frozen=True)
class Placed:
    """A real table (or the first `rows` rows of one, in key order) placed at `ref`."""

    ref: str  # unprefixed "dataset.table"
    source: str  # "legacy:<demo legacy table>" | "staging:<stem>" | "training:<horizon>"
    rows: int
    partitioned: bool = False
    skip: int = 0  # leave out the first `skip` rows (rows beyond a file's cut: real, not in it)
    duplicate: int = 0  # load the first `duplicate` rows a second time (duplicate keys)
    columns: tuple[tuple[str, str, str], ...] = ()  # a schema of its own (drift); () = the data's


@dataclass(frozen=True)
class View:
    ref: str  # unprefixed "dataset.view"
    reads: str  # unprefixed "dataset.table" (a placed table)


@dataclass(frozen=True)
class Snap:
    ref: str  # unprefixed "dataset.snapshot"
    of: str  # unprefixed "dataset.table" (a placed table)


@dataclass(frozen=True)
class Shape:
    """One example: the spec's parts, the warehouse's datasets and objects, the approvals."""

    parts: frozenset[str]
    family: str  # "cbi-v14": every dataset of cbi-v14 declared; "small": only those the parts need
    file_rows: tuple[tuple[str, int], ...]  # staging stem -> rows of the cut file
    datasets: tuple[tuple[str, str], ...]  # unprefixed dataset -> location it exists in beforehand
    tables: tuple[Placed, ...] = ()
    views: tuple[View, ...] = ()
    snapshots: tuple[Snap, ...] = ()
    approve: bool = False  # approve relocating every declared dataset found in the wrong region
    kill_at: str | None = None  # kill -9 the first apply there ("step:N" or an executor point)
    features: frozenset[str] = field(default_factory=frozenset)  # names of what was drawn (summary)

    # -------------------------------------------------------- as data
    def to_json(self) -> str:
        d = dataclasses.asdict(self)
        d["parts"] = sorted(self.parts)
        d["features"] = sorted(self.features)
        return json.dumps(d, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "Shape":
        d = json.loads(text)
        return cls(
            parts=frozenset(d["parts"]), family=d["family"],
            file_rows=tuple(tuple(x) for x in d["file_rows"]),
            datasets=tuple(tuple(x) for x in d["datasets"]),
            tables=tuple(Placed(**{**t, "columns": tuple(tuple(c) for c in t["columns"])}) for t in d["tables"]),
            views=tuple(View(**v) for v in d["views"]), snapshots=tuple(Snap(**s) for s in d["snapshots"]),
            approve=d["approve"], kill_at=d["kill_at"], features=frozenset(d["features"]))

    def signature(self) -> tuple:
        """The shape without row counts: what "distinct warehouse shapes" counts."""
        return (self.family, tuple(sorted(self.parts)), tuple(sorted(self.datasets)),
                tuple(sorted((t.ref, t.source, t.partitioned, bool(t.skip), bool(t.duplicate), t.columns)
                             for t in self.tables)),
                tuple(sorted((v.ref, v.reads) for v in self.views)),
                tuple(sorted((s.ref, s.of) for s in self.snapshots)), self.approve, self.kill_at is not None)

    # -------------------------------------------------------- what the spec declares
    def declared_datasets(self) -> list[str]:
        if self.family == "cbi-v14":
            return list(cbi()["datasets"])
        need = {cbi()["ops_dataset"]}
        for stem in self.loads():
            need.add(load_table_of(stem).split(".")[0])
        for part in self.migrations():
            need.add(_migration(part)["to"])
        if "archive" in self.parts:  # with an archive, backups go there (else to ops)
            need.add(cbi()["archive"]["dataset"])
        return [d for d in cbi()["datasets"] if d in need]

    def loads(self) -> list[str]:
        return [s for s in LOAD_PARTS if s in self.parts]

    def migrations(self) -> list[str]:
        return [m for m in MIGRATION_PARTS if m in self.parts]

    def rows_of_file(self, stem: str) -> int:
        return dict(self.file_rows).get(stem, 0)


# ---------------------------------------------------------------- real rows


@functools.cache
def staging_tables(staging_src: Path) -> dict[str, pa.Table]:
    """stem -> the demo's staging file (real rows, sorted by its keys)."""
    return {p.stem: pq.read_table(p) for p in sorted(Path(staging_src).glob("*.parquet"))}


@functools.cache
def regime_calendar() -> pa.Table:
    import pyarrow.csv as pcsv

    cols = declared_columns("regimes.regime_calendar")
    types = {n: {"STRING": pa.string(), "DATE": pa.date32()}[t] for n, t, _ in cols}
    return pcsv.read_csv(SEEDS / "regime_calendar.csv",
                         convert_options=pcsv.ConvertOptions(column_types=types, strings_can_be_null=False))


def real_rows(source: str, staging_src: Path) -> pa.Table:
    """The whole real table a `Placed.source` names."""
    kind, name = source.split(":", 1)
    if kind == "legacy":
        return demo.legacy_tables()[name]
    if kind == "staging":
        if name == "regime_calendar":
            return regime_calendar()
        return staging_tables(staging_src)[name]
    if kind == "training":  # another horizon of the legacy training table (demo builder)
        steps = {"6m": 126, "12m": 252}[name]
        return demo.training_full_history(name, steps)
    raise ValueError(source)


def cut(table: pa.Table, rows: int, skip: int = 0) -> pa.Table:
    return table.slice(skip, rows)


# ---------------------------------------------------------------- spec text


def _pre(p: str, ref: str) -> str:
    return p + ref


def spec_text(shape: Shape, p: str) -> str:
    """cbi-v14 projected under prefix `p`, keeping `shape.parts` (module docstring)."""
    c = cbi()
    arc = c["archive"]
    out: dict[str, Any] = {
        "version": 1, "project": c["project"], "default_location": c["default_location"],
        "ops_dataset": p + c["ops_dataset"], "staging_dir": "staging",
        "placeholder_values": c["placeholder_values"],
    }
    targets = {load_table_of(s) for s in shape.loads()}
    gaps = [{**g, "object": p + g["object"]} for g in c["targets"]["local"]["known_gaps"]
            if g["check"] == "missing_source" and g["object"] in targets]
    out["targets"] = {"local": {"type": "local", "known_gaps": gaps}}
    out["datasets"] = {p + d: {k: v for k, v in (c["datasets"][d] or {}).items()}
                       for d in shape.declared_datasets()}
    tables: dict[str, Any] = {}
    loads = []
    for stem in shape.loads():
        ld = dict(_load_of(stem))
        ld.pop("min_rows", None)  # a cut file cannot meet the production floor
        t = ld["table"]
        tables[p + t] = c["tables"][t]
        ld["table"] = p + t
        ld["source"] = load_source(stem)
        loads.append(ld)
    if tables:
        out["tables"] = tables
    if loads:
        out["loads"] = loads
    migs = []
    for part in shape.migrations():
        mg = dict(_migration(part))
        mg["source"] = p + mg["source"]
        mg["to"] = p + mg["to"]
        migs.append(mg)
    if migs:
        out["migrations"] = migs
    if "archive" in shape.parts:
        out["archive"] = {"dataset": p + arc["dataset"], "sources": [p + s for s in arc["sources"]],
                          "keep": [p + k for k in arc.get("keep", [])],
                          "delete_sources": False}
    return yaml.safe_dump(out, sort_keys=False, default_flow_style=None, width=140)


def write_project(shape: Shape, p: str, root: Path, staging_src: Path) -> Path:
    """The example's project folder: desired_state/spec.yaml, the cut staging files, seeds."""
    (root / "desired_state" / "seeds").mkdir(parents=True, exist_ok=True)
    (root / "staging").mkdir(parents=True, exist_ok=True)
    for stem in shape.loads():
        if stem == "regime_calendar":
            shutil.copyfile(SEEDS / "regime_calendar.csv", root / "desired_state" / "seeds" / "regime_calendar.csv")
        elif stem in staging_tables(staging_src):
            pq.write_table(cut(staging_tables(staging_src)[stem], shape.rows_of_file(stem)),
                           root / "staging" / f"{stem}.parquet", compression="zstd")
    spec = root / "desired_state" / "spec.yaml"
    spec.write_text(textwrap.dedent(spec_text(shape, p)), encoding="utf-8")
    return spec


# ---------------------------------------------------------------- seeding


def placed_table(t: Placed, staging_src: Path) -> pa.Table:
    """The rows `t` puts in its table: a cut of a real table, plus duplicated real rows."""
    base = cut(real_rows(t.source, staging_src), t.rows, t.skip)
    if t.duplicate:
        base = pa.concat_tables([base, base.slice(0, t.duplicate)])
    if t.columns:  # a schema of its own: the data's columns it names, cast to its types
        names = [n for n, _, _ in t.columns if n in base.column_names]
        base = base.select(names)
    return base


def seed(adapter: Adapter, shape: Shape, p: str, staging_src: Path, tmp: Path) -> None:
    """Build the shape's warehouse under prefix `p` (before any plan)."""
    locs = dict(shape.datasets)
    for ds, loc in sorted(locs.items()):
        adapter.create_dataset(p + ds, loc)
    for t in shape.tables:
        ref = resolve(t.ref, p)
        ds = ref.split(".")[0]
        rows = placed_table(t, staging_src)
        if t.columns:
            cols = list(t.columns)
        else:
            cols = [(f.name, arrow_to_bq(f.type), "NULLABLE") for f in rows.schema]
        part = "date" if t.partitioned and any(n == "date" for n, _, _ in cols) else None
        adapter.create_table(p + ref, cols, partition_by=part)
        if rows.num_rows:
            path = tmp / f"{p}{ref}.parquet"
            schema = pa.schema([pa.field(n, _arrow_type(ty), nullable=(m != "REQUIRED")) for n, ty, m in cols])
            # A column the data lacks (an extra column of a drifted schema) is NULL, never invented.
            data = pa.table({f.name: (rows.column(f.name).cast(f.type) if f.name in rows.column_names
                                      else pa.nulls(rows.num_rows, f.type)) for f in schema})
            pq.write_table(data.cast(schema), path)
            adapter.load_parquet(path, p + ref, location=locs.get(ds))
    for v in shape.views:
        ds = v.ref.split(".")[0]
        adapter.execute(f"CREATE VIEW {adapter.q(p + v.ref)} AS SELECT * FROM {adapter.q(p + v.reads)} "
                        f"WHERE date >= DATE '2000-01-01'", location=locs.get(ds), what="seed view")
    for s in shape.snapshots:
        ds = s.ref.split(".")[0]
        adapter.execute(f"CREATE SNAPSHOT TABLE {adapter.q(p + s.ref)} CLONE {adapter.q(p + s.of)}",
                        location=locs.get(ds), what="seed snapshot")


def load_source(stem: str) -> str:
    """The `source` the spec gives the load of `stem` (as written in spec_text)."""
    return f"desired_state/seeds/{stem}.csv" if stem == "regime_calendar" else f"staging/{stem}.parquet"


def resolve(ref: str, p: str) -> str:
    """An unprefixed ref, "<dataset>.@tmp:<stem>" being the name the tool gives the temporary
    table of that load (reconcile.apply.handlers.loads.tmp_table_for)."""
    ds, name = ref.split(".", 1)
    if name.startswith("@tmp:"):
        import hashlib

        from reconcile.apply.handlers.loads import TMP_PREFIX

        stem = name[len("@tmp:"):]
        table = p + load_table_of(stem)
        digest = hashlib.sha256(f"{table}<-{load_source(stem)}".encode()).hexdigest()[:8]
        return f"{ds}.{TMP_PREFIX}{digest}"
    return ref


def _arrow_type(bq: str) -> pa.DataType:
    return {"DATE": pa.date32(), "FLOAT64": pa.float64(), "INT64": pa.int64(), "STRING": pa.string(),
            "TIMESTAMP": pa.timestamp("us", tz="UTC")}[bq]
