"""The JSON Schemas in docs/schemas: current with the models, and true of real outputs.

Real outputs, validated with a JSON Schema validator (jsonschema, draft 2020-12): every
golden plan (tests/scenarios/*/expected.json, tests/render/golden/*.json), every scenario
planned again now (so a field added to an action since the goldens is checked too), a
run result built from Outcome objects, a status built by `Status.to_dict()`. The status
and run result of a real run on the local BigQuery are validated in
tests/data/test_status.py. Each schema must also refuse a wrong document: a schema that
accepted anything would pass the rest. No BigQuery here.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from reconcile.apply.results import STATUSES, Outcome
from reconcile.monitor.status import Section, Status
from reconcile.plan.actions import (
    ACTIONS, CreateDataset, CreateTable, ExpectationFailed, MergeLoad, MissingSource, Validate,
)
from reconcile.plan.planner import plan as make_plan
from reconcile.render import schemas
from reconcile.render.json import render_json
from reconcile.render.result import Assessment
from reconcile.render.run_result import build_run_result, render_run_result
from reconcile.snapshot.model import Snapshot
from reconcile.spec.load import load_spec
from reconcile.spec.model import KnownGap
from reconcile.spec.sources import SourceFile, SourceManifest

ROOT = Path(__file__).resolve().parents[2]
SCHEMA_DIR = ROOT / "docs" / "schemas"
SCENARIOS = ROOT / "tests" / "scenarios"
GOLDEN_PLANS = sorted(SCENARIOS.glob("*/expected.json")) + sorted((ROOT / "tests" / "render" / "golden").glob("*.json"))
CASES = sorted(p.name for p in SCENARIOS.iterdir() if (p / "snapshot.json").exists())


def validator(name: str) -> Draft202012Validator:
    schema = json.loads((SCHEMA_DIR / name).read_text(encoding="utf-8"))
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def errors(name: str, doc: object) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator(name).iter_errors(doc)]


# ---------------------------------------------------------------- the files


def test_the_committed_schemas_are_generated_from_the_models() -> None:
    for name, text in schemas.schemas().items():
        path = SCHEMA_DIR / name
        assert path.exists(), f"{path} missing: run python -m reconcile.render.schemas"
        assert path.read_text(encoding="utf-8") == text, \
            f"{path} is stale: run .venv/bin/python -m reconcile.render.schemas"
    assert sorted(p.name for p in SCHEMA_DIR.glob("*.json")) == sorted(schemas.DOCUMENTS)


def test_the_generator_checks_the_repository() -> None:
    r = subprocess.run([sys.executable, "-m", "reconcile.render.schemas", "--check"], cwd=ROOT,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr


def test_check_names_a_stale_file_and_writes_nothing(tmp_path: Path, capsys) -> None:
    assert schemas.main(["--root", str(tmp_path)]) == 0
    assert schemas.main(["--check", "--root", str(tmp_path)]) == 0
    stale = tmp_path / "docs" / "schemas" / "status.schema.json"
    stale.write_text("{}\n", encoding="utf-8")
    (tmp_path / "docs" / "schemas" / "plan.schema.json").unlink()
    capsys.readouterr()
    assert schemas.main(["--check", "--root", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "status.schema.json is stale" in err and "plan.schema.json is stale" in err
    assert "result.schema.json" not in err
    assert stale.read_text(encoding="utf-8") == "{}\n"  # --check writes nothing
    assert schemas.main(["--root", str(tmp_path)]) == 0
    assert schemas.main(["--check", "--root", str(tmp_path)]) == 0


@pytest.mark.parametrize("name", sorted(schemas.DOCUMENTS))
def test_each_schema_is_a_valid_draft_2020_12_schema(name: str) -> None:
    Draft202012Validator.check_schema(json.loads((SCHEMA_DIR / name).read_text(encoding="utf-8")))


def test_the_plan_schema_has_every_action_class_with_its_fields() -> None:
    schema = json.loads((SCHEMA_DIR / "plan.schema.json").read_text(encoding="utf-8"))
    for cls in ACTIONS:
        entry = schema["$defs"][cls.__name__]
        assert entry["properties"]["kind"]["const"] == cls.__name__
        fields = dataclasses.fields(cls)
        assert set(entry["properties"]) == {f.name for f in fields} | {
            "kind", "key", "destructive", "blocked", "stakes", "text"}
        required = {f.name for f in fields
                    if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING}
        assert set(entry["required"]) == required | {"kind", "key", "destructive", "blocked", "stakes", "text"}
        assert entry["additionalProperties"] is False
    refs = {one["$ref"].rsplit("/", 1)[1]
            for one in schema["properties"]["actions"]["items"]["oneOf"]}
    assert refs == {cls.__name__ for cls in ACTIONS}


def test_the_run_statuses_are_the_executors() -> None:
    assert schemas.RUN_STATUSES == STATUSES


# ---------------------------------------------------------------- plans


def test_there_are_golden_plans_to_validate() -> None:
    assert len(GOLDEN_PLANS) >= 10
    assert ROOT / "tests" / "render" / "golden" / "representative.json" in GOLDEN_PLANS


@pytest.mark.parametrize("path", GOLDEN_PLANS, ids=lambda p: str(p.relative_to(ROOT)))
def test_golden_plans_match_the_plan_schema(path: Path) -> None:
    doc = json.loads(path.read_text(encoding="utf-8"))
    assert errors("plan.schema.json", doc) == []
    assert doc["schema_version"] == schemas.PLAN_SCHEMA_VERSION


def _scenario_plan(name: str):
    case = SCENARIOS / name
    spec_dir = case if (case / "spec.yaml").exists() else SCENARIOS / "base"
    sources = case / "sources.json" if (case / "sources.json").exists() else SCENARIOS / "base" / "sources.json"
    manifest = SourceManifest(tuple(
        SourceFile(**{**d, "columns": tuple(tuple(c) for c in d["columns"]), "problems": tuple(d["problems"])})
        for d in json.loads(sources.read_text())))
    opts = json.loads((case / "options.json").read_text()) if (case / "options.json").exists() else {}
    return make_plan(load_spec(spec_dir / "spec.yaml", root=spec_dir), Snapshot.load(case / "snapshot.json"),
                     manifest, approvals=opts.get("approvals", ()),
                     allow_destructive=opts.get("allow_destructive", False))


@pytest.mark.parametrize("name", CASES)
def test_plans_rendered_now_match_the_plan_schema(name: str) -> None:
    assert errors("plan.schema.json", json.loads(render_json(_scenario_plan(name)))) == []


# ---------------------------------------------------------------- run results

DS = CreateDataset(name="raw", location="us-central1")
TABLE = CreateTable(table="raw.prices", columns=(("date", "DATE", "REQUIRED"),))
LOAD = MergeLoad(table="raw.prices", source="staging/p.parquet", content_hash="h", rows=3, keys=("date",))
GATE = Validate(table="raw.prices", checks=("min_rows(3)",))
GAP = MissingSource(table="raw.cftc", source="staging/cftc.parquet", known_gap="no CFTC data offline")
FAILED_CHECK = ExpectationFailed(table="raw.weather", check="min_rows", expected=">= 9", observed="1")
LATER = CreateTable(table="raw.later", blocked_by=("MergeLoad:raw.prices<-staging/p.parquet",))


def outcomes() -> list[Outcome]:
    return [
        Outcome(DS.key, DS.kind, DS.target, "done", "created in us-central1", {"location": "us-central1"}, 0.41),
        Outcome(TABLE.key, TABLE.kind, TABLE.target, "noop", "exists as declared", {}, 0.02),
        Outcome(LOAD.key, LOAD.kind, LOAD.target, "failed", "merge failed: quota", {"file_rows": 3}, 1.5),
        Outcome(GATE.key, GATE.kind, GATE.target, "blocked", "blocked by " + LOAD.key, {}, 0.0),
        Outcome(GAP.key, GAP.kind, GAP.target, "skipped", GAP.skip_reason(), {}, 0.0),
        Outcome(FAILED_CHECK.key, FAILED_CHECK.kind, FAILED_CHECK.target, "skipped",
                FAILED_CHECK.skip_reason(), {}, 0.0),
    ]


def run_result_kwargs(**over) -> dict:
    kw = dict(project="cbi-v14", target="local", run_id="20251119t120000z-1a2b3c4d", dry_run=False,
              started_at="2025-11-19T12:00:00+00:00", finished_at="2025-11-19T12:00:02.25+00:00",
              outcomes=outcomes(), exit_code=1, converged=False,
              reason=f"not converged: {LOAD.key} failed: merge failed: quota",
              after=Assessment(drift=(LOAD, GATE, FAILED_CHECK), known_gaps=(GAP,), unmanaged=()),
              not_run=(LATER,), job_ids={DS.key: [], LOAD.key: ["job_abc", "job_def"]},
              plan_fingerprint="sha256:" + "0" * 64)
    kw.update(over)
    return kw


def test_a_run_result_from_outcomes_matches_the_result_schema() -> None:
    doc = json.loads(render_run_result(**run_result_kwargs()))
    assert errors("result.schema.json", doc) == []
    assert doc["schema_version"] == 1 and doc["kind"] == "run-result"
    assert [r["key"] for r in doc["results"]] == [o.key for o in outcomes()]
    assert doc["counts"] == {"done": 1, "noop": 1, "failed": 1, "blocked": 1, "skipped": 2}
    assert sum(doc["counts"].values()) == len(doc["results"])
    load = doc["results"][2]
    assert (load["status"], load["seconds"], load["job_ids"], load["observed"]) == \
        ("failed", 1.5, ["job_abc", "job_def"], {"file_rows": 3})
    assert doc["not_run"] == [{"key": LATER.key, "kind": "CreateTable", "target": "raw.later",
                               "reason": f"blocked by {LOAD.key}"}]
    assert doc["after"] == {"in_sync": False, "drift": 3, "known_gaps": 1, "unmanaged": 0}
    assert doc["seconds"] == 2.25


def test_a_run_result_from_dicts_is_the_same_document() -> None:
    as_dicts = run_result_kwargs(outcomes=[o.to_dict() for o in outcomes()],
                                 not_run=[{"key": LATER.key, "kind": "CreateTable", "target": "raw.later",
                                           "reason": f"blocked by {LOAD.key}"}],
                                 after={"in_sync": False, "drift": 3, "known_gaps": 1, "unmanaged": 0})
    assert render_run_result(**as_dicts) == render_run_result(**run_result_kwargs())


def test_a_dry_run_result_without_an_after_matches_the_schema() -> None:
    dry = [Outcome(a.key, a.kind, a.target, "dry-run", "would " + a.kind, {"sql": "CREATE ..."}) for a in (DS, TABLE)]
    doc = json.loads(render_run_result(**run_result_kwargs(
        dry_run=True, outcomes=dry, not_run=(GAP,), job_ids=None, after=None, exit_code=2,
        plan_fingerprint=None, reason="dry run")))
    assert errors("result.schema.json", doc) == []
    assert doc["after"] is None and doc["counts"] == {"dry-run": 2}
    assert doc["not_run"][0]["reason"] == "known gap: no CFTC data offline"


@pytest.mark.parametrize("over, message", [
    (dict(outcomes=outcomes() + outcomes()[:1]), "more than once"),
    (dict(not_run=(CreateDataset(name="raw", location="us-central1"),)), "more than once"),
    (dict(job_ids={"CreateTable:nowhere": ["j"]}), "not among the results"),
    (dict(finished_at="2025-11-19T11:59:59+00:00"), "before started_at"),
    (dict(started_at="2025-11-19 noon"), "ISO 8601"),
    (dict(started_at="2025-11-19T12:00:00"), "timezone"),
])
def test_a_run_result_refuses_what_would_make_it_disagree(over, message) -> None:
    with pytest.raises(ValueError, match=message):
        build_run_result(**run_result_kwargs(**over))


# ---------------------------------------------------------------- status

def a_status() -> Status:
    """Every gate state and source health a status can show."""
    keys = ("row_counts", "coverage", "regimes", "ingestion", "expectations")
    rows = {
        "row_counts": [{"table_ref": t, "row_count": n} for t, n in
                       (("a.ok", 10), ("a.gap", 0), ("a.none", 0), ("a.blocked", 1), ("a.never", 5))],
        "coverage": [{"table_ref": "a.ok", "date_column": "date", "min_date": "2000-01-03",
                      "max_date": "2018-12-31", "distinct_dates": 10, "row_count": 10}],
        "ingestion": [
            {"table_ref": "a.ok", "source": "staging/ok.parquet", "source_kind": "file", "loads": 1,
             "last_success_at": "2025-11-19T11:00:00+00:00", "last_rows": 10, "failures": 0, "refusals": 0,
             "missing_runs": 0, "health": "ok"},
            {"table_ref": "a.gap", "source": "staging/gap.parquet", "source_kind": "file", "loads": 0,
             "last_success_at": None, "last_rows": None, "failures": 0, "refusals": 0, "missing_runs": 1,
             "health": "missing"}],
        "expectations": [
            _gate("a.ok", "Validate", "all", "passed", "2 check(s) passed", {"min_rows": "10", "coverage(date)": "x"}),
            _gate("a.gap", "Validate", "all", "passed",
                  "0 check(s) passed; 1 known gap(s): min_rows observed 0 (no data offline)", {"min_rows": "0"}),
            _gate("a.none", "Validate", "all", "passed", "0 check(s) passed", {}),
            _gate("a.blocked", "Validate", "all", "not_checked", "blocked by MergeLoad:a.blocked<-x", {}),
            _gate("a.other", "ExpectationFailed", "min_rows", "failed", "min_rows: expected >= 9, observed 1", {}),
        ],
    }
    return Status(project="p-roject", target="local", read_at="2025-11-19T12:00:00+00:00",
                  sections={k: Section(k, f"mon.{k}", tuple(rows.get(k, ()))) for k in keys},
                  known_gap_rules=(KnownGap(object="a.gap", check="missing_source", reason="no data offline"),
                                   KnownGap(object="a.gap", check="min_rows", reason="no data offline")),
                  gated=("a.ok", "a.gap", "a.never"), declared_loads=(("a.ok", "staging/ok.parquet"),
                                                                      ("a.gap", "staging/gap.parquet")))


def _gate(table, kind, check, result, detail, observed) -> dict:
    return {"table_ref": table, "kind": kind, "check_name": check, "result": result, "detail": detail,
            "observed": json.dumps({"observed": observed}), "run_id": "r1",
            "checked_at": "2025-11-19T11:00:00+00:00", "history_results": 5, "history_runs": 1,
            "history_since": "2025-11-19T11:00:00+00:00"}


def test_a_status_matches_the_status_schema() -> None:
    doc = a_status().to_dict()
    assert errors("status.schema.json", doc) == []
    assert doc["schema_version"] == 1
    assert {t["table"]: t["gate"] for t in doc["tables"]} == {
        "a.ok": "passed", "a.gap": "known gap", "a.none": "no checks", "a.blocked": "not checked",
        "a.never": "never checked"}


# ---------------------------------------------------------------- wrong documents are refused


def _plan_doc() -> dict:
    return json.loads((ROOT / "tests" / "render" / "golden" / "representative.json").read_text(encoding="utf-8"))


def _set(path: tuple, value) -> callable:
    def mutate(doc: dict) -> None:
        target = doc
        for p in path[:-1]:
            target = target[p]
        target[path[-1]] = value
    return mutate


def _drop(path: tuple) -> callable:
    def mutate(doc: dict) -> None:
        target = doc
        for p in path[:-1]:
            target = target[p]
        del target[path[-1]]
    return mutate


WRONG = {
    "plan: unknown top-level field": ("plan.schema.json", _plan_doc, _set(("surprise",), 1)),
    "plan: newer schema_version": ("plan.schema.json", _plan_doc, _set(("schema_version",), 2)),
    "plan: exit code 1": ("plan.schema.json", _plan_doc, _set(("exit_code",), 1)),
    "plan: unknown action kind": ("plan.schema.json", _plan_doc, _set(("actions", 0, "kind"), "DropDataset")),
    "plan: field of another kind": ("plan.schema.json", _plan_doc, _set(("actions", 0, "destination"), "x.y")),
    "plan: action without text": ("plan.schema.json", _plan_doc, _drop(("actions", 0, "text"))),
    "plan: action without a required field": ("plan.schema.json", _plan_doc, _drop(("actions", 0, "location"))),
    "plan: rows as a string": ("plan.schema.json", _plan_doc, _set(("actions", 1, "rows"), "1234567")),
    "plan: a count per kind missing": ("plan.schema.json", _plan_doc, _drop(("summary", "counts", "Validate"))),
    "plan: negative stakes": ("plan.schema.json", _plan_doc, _set(("actions", 1, "stakes", "rows"), -1)),
    "result: unknown status": ("result.schema.json",
                               lambda: json.loads(render_run_result(**run_result_kwargs())),
                               _set(("results", 0, "status"), "succeeded")),
    "result: a count of an unknown status": ("result.schema.json",
                                             lambda: json.loads(render_run_result(**run_result_kwargs())),
                                             _set(("counts", "succeeded"), 1)),
    "result: no after": ("result.schema.json", lambda: json.loads(render_run_result(**run_result_kwargs())),
                         _drop(("after",))),
    "result: unknown action kind": ("result.schema.json",
                                    lambda: json.loads(render_run_result(**run_result_kwargs())),
                                    _set(("not_run", 0, "kind"), "Nope")),
    "result: kind plan": ("result.schema.json", lambda: json.loads(render_run_result(**run_result_kwargs())),
                          _set(("kind",), "plan")),
    "status: gate ok": ("status.schema.json", lambda: a_status().to_dict(), _set(("tables", 0, "gate"), "ok")),
    "status: no schema_version": ("status.schema.json", lambda: a_status().to_dict(), _drop(("schema_version",))),
    "status: unknown view": ("status.schema.json", lambda: a_status().to_dict(),
                             _set(("views", "extra"), {"view": None, "problem": None, "rows": []})),
    "status: a row value that is an object": ("status.schema.json", lambda: a_status().to_dict(),
                                              _set(("views", "ingestion", "rows", 0, "health"), {"x": 1})),
}


@pytest.mark.parametrize("case", sorted(WRONG))
def test_each_schema_refuses_a_wrong_document(case: str) -> None:
    name, make, mutate = WRONG[case]
    doc = make()
    assert errors(name, doc) == []
    wrong = copy.deepcopy(doc)
    mutate(wrong)
    assert errors(name, wrong), f"{name} accepted: {case}"
