"""Bad input: a corpus of files (tests/reliability/bad_inputs/), each refused precisely.

Every file is one case, described in `bad_inputs/cases.yaml`: what it stands in for (the
spec, a DDL or view file, a staging Parquet file, a CSV seed), the exit code and the
words the message must hold. `reconcile apply` runs on each, in process, pointed at the
local BigQuery through a loopback proxy that counts requests:

* exit 1 (bad spec, unreadable file): one line `error: FILE: FIELD: why` on stderr, and
  not one request sent;
* exit 3 (bad data): the plan refuses the load (a RefuseLoad action, checked in the JSON
  plan too) and apply changes nothing.

For every case a snapshot of the warehouse (datasets, tables, types, rows, columns, view
SQL, load ledger) and the content checksums of the data tables are taken before and after:
they must be equal. The data cases run against a warehouse the base spec has converged
(so the bad file is the only difference). tests/spec/test_bad_input.py keeps the CLI-level
cases written in code; this is the file corpus.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from loopback_proxy import LoopbackProxy
from reconcile.cli import main as cli
from reconcile.local import emulator as local
from reconcile.bq.adapter import Adapter
from reconcile.snapshot.read import read_snapshot

pytestmark = [pytest.mark.reliability, pytest.mark.integration]

CORPUS = Path(__file__).with_name("bad_inputs")
CASES: dict[str, dict] = yaml.safe_load((CORPUS / "cases.yaml").read_text(encoding="utf-8"))
SUPPORT = {"_base_spec.yaml", "cases.yaml", "make_data_cases.py", "make_hostile_cases.py"}
REPO = Path(__file__).resolve().parents[2]
TARGET = {"spec": "desired_state/spec.yaml", "ddl": "sql/ddl/news.sql", "view": "sql/views/by_station.sql",
          "staging": "staging/weather.parquet", "seed": "seeds/regime_calendar.csv"}


def make_project(root: Path, prefix: str, staging_src: Path) -> Path:
    """The base project (bad_inputs/_base_spec.yaml) with good files, datasets prefixed."""
    for sub in ("desired_state", "staging", "seeds", "sql/ddl", "sql/views"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    (root / "pyproject.toml").write_text("")
    shutil.copyfile(staging_src / "weather_granular.parquet", root / TARGET["staging"])
    shutil.copyfile(REPO / "desired_state" / "seeds" / "regime_calendar.csv", root / TARGET["seed"])
    (root / TARGET["ddl"]).write_text(f"CREATE TABLE IF NOT EXISTS `{prefix}raw.news` (\n  title STRING,\n"
                                      "  published_at TIMESTAMP\n);\n")
    (root / TARGET["view"]).write_text(f"SELECT station, COUNT(*) AS days FROM `{prefix}raw.weather` GROUP BY station\n")
    base = (CORPUS / "_base_spec.yaml").read_text(encoding="utf-8")
    (root / TARGET["spec"]).write_text(base.replace("${P}", prefix), encoding="utf-8")
    return root / TARGET["spec"]


def state(adapter: Adapter, prefix: str) -> dict:
    """What must not change: the whole project's snapshot (without its time and request
    count) and the content checksum of every data table under the prefix."""
    snap = read_snapshot(adapter, None).model_dump(mode="json")
    for volatile in ("taken_at", "requests"):
        snap.pop(volatile)
    sums = {}
    by_loc: dict[str, list[str]] = {}
    for ref, t in sorted(snap["tables"].items()):
        if ref.startswith(prefix) and t["type"] == "TABLE":
            by_loc.setdefault(snap["datasets"][ref.split(".")[0]]["location"], []).append(ref)
    for loc, refs in by_loc.items():  # one query per location: every table's count and checksum
        union = " UNION ALL ".join(
            f"SELECT '{ref}' AS ref, COUNT(*) AS n, BIT_XOR(FARM_FINGERPRINT(TO_JSON_STRING(t))) AS c "
            f"FROM {adapter.q(ref)} AS t" for ref in refs)
        for row in adapter.query(union, location=loc):
            sums[row["ref"]] = (row["n"], row["c"])
    return {"snapshot": snap, "checksums": sums}


def test_every_corpus_file_is_a_case() -> None:
    files = {p.name for p in CORPUS.iterdir() if p.is_file()} - SUPPORT
    assert files == set(CASES), (sorted(files - set(CASES)), sorted(set(CASES) - files))
    assert len(CASES) >= 110


def _run(capsys, monkeypatch, endpoint: str, argv: list[str]) -> tuple[int, str, str]:
    monkeypatch.setenv("BIGQUERY_EMULATOR_HOST", endpoint)
    monkeypatch.setenv("NO_COLOR", "1")
    capsys.readouterr()
    code = cli.main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.timeout(420)
def test_bad_input_corpus_is_refused_and_changes_nothing(
        emulator: local.LocalEmulator, adapter: Adapter, ds_prefix: str, tmp_path: Path,
        staging_src: Path, capsys, monkeypatch, figures) -> None:
    p = ds_prefix
    # The data cases' warehouse: the base spec applied once with good files.
    data_spec = make_project(tmp_path / "data_project", p, staging_src)
    code, out, err = _run(capsys, monkeypatch, emulator.endpoint,
                          ["apply", "--auto-approve", "--spec", str(data_spec), "--no-color"])
    assert code == 0, out + err
    before = state(adapter, p)

    results, problems = [], []
    # A case refused before any request (exit 1, the proxy counted none) cannot have
    # changed anything: its warehouse comparison is batched with the cases before the
    # next one that sent requests (one snapshot and checksum read, not one per case).
    pending: list[dict] = []

    def flush() -> None:
        nonlocal before
        if not pending:
            return
        after = state(adapter, p)
        for r in pending:
            r["unchanged"] = after == before
            if not r["unchanged"]:
                r["ok"] = False
                problems.append(f"{r['file']}: the warehouse changed (in a batch of {len(pending)} refused cases)")
        pending.clear()
        before = after

    for name, case in sorted(CASES.items(), key=lambda kv: (kv[1]["exit"], kv[0])):
        data = case["as"] in ("staging", "seed")
        if data:
            root = data_spec.parent.parent
            spec = data_spec
        else:
            root = tmp_path / name.replace(".", "_")
            spec = make_project(root, "", staging_src)
        target = root / TARGET[case["as"]]
        good = target.read_bytes()
        shutil.copyfile(CORPUS / name, target)
        try:
            with LoopbackProxy(emulator.endpoint) as proxy:
                code, out, err = _run(capsys, monkeypatch, proxy.endpoint,
                                      ["apply", "--auto-approve", "--spec", str(spec), "--no-color"])
                kinds: list[str] = []
                if code == 3:
                    jcode, jout, _ = _run(capsys, monkeypatch, proxy.endpoint,
                                          ["plan", "--spec", str(spec), "--format", "json"])
                    kinds = sorted({a["kind"] for a in json.loads(jout)["actions"]})
                sent = proxy.stats.requests
        finally:
            target.write_bytes(good)
        deferred = code == 1 and sent == 0
        if not deferred:
            flush()
            after = state(adapter, p)
        message = err.strip() if code == 1 else next(
            (ln.strip() for ln in out.splitlines() if "refuse to load" in ln), out.strip()[-300:])
        why = []
        if code != case["exit"]:
            why.append(f"exit {code}, expected {case['exit']}")
        text = err if case["exit"] == 1 else out
        why += [f"message lacks {s!r}" for s in case["expect"] if s not in text]
        if case["exit"] == 1:
            if not (err.startswith("error: ") and err.count("\n") == 1):
                why.append("not one 'error:' line")
            if sent:
                why.append(f"{sent} request(s) sent")
        if case["exit"] == 3 and "RefuseLoad" not in kinds:
            why.append(f"no RefuseLoad in the plan ({kinds})")
        unchanged = True if deferred else after == before
        if not unchanged:
            why.append("the warehouse changed")
        if not deferred:
            before = after
        if why:
            problems.append(f"{name}: {'; '.join(why)}\n  stderr: {err.strip()[:500]}\n  stdout: {out.strip()[-500:]}")
        results.append({"file": name, "as": case["as"], "exit": code, "requests": sent,
                        "message": message[:400], "unchanged": unchanged, "ok": not why})
        if deferred:
            pending.append(results[-1])
    flush()

    figures.add("bad_inputs", {
        "cases": len(results), "refused": sum(r["ok"] for r in results),
        "exit_1": sum(r["exit"] == 1 for r in results), "exit_3": sum(r["exit"] == 3 for r in results),
        "unchanged": sum(r["unchanged"] for r in results), "results": results,
    })
    assert not problems, "\n".join(problems)
