"""The reliability suite's figures, and the report it writes from them.

Tests add what they measured to the session's `Figures`; `write_results` renders
`tests/reliability/results.md` and the README block between
`<!-- reliability:start -->` and `<!-- reliability:end -->` from them. Nothing here
is typed by hand: every number comes from the run.
"""

from __future__ import annotations

import datetime as dt
import json
import platform
import sys
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
PARTS = ("faults", "crashes", "concurrency", "bad_inputs", "secrets", "red_team")


@dataclass
class Figures:
    parts: dict[str, object] = field(default_factory=dict)
    seconds: float | None = None  # the suite's tests, setup to teardown

    def add(self, part: str, data: dict) -> None:
        self.parts[part] = data

    def append(self, part: str, item: dict) -> None:
        self.parts.setdefault(part, [])
        self.parts[part].append(item)  # type: ignore[union-attr]


def write_results(figs: Figures) -> None:
    sys.path.insert(0, str(HERE.parent / "support"))
    from readme_block import update_block

    md = render(figs)
    (HERE / "results.md").write_text(md, encoding="utf-8")
    (HERE / "results.json").write_text(json.dumps(figs.parts, indent=2, sort_keys=True, default=str) + "\n",
                                       encoding="utf-8")
    update_block("reliability", readme_block(figs))


def _env() -> str:
    import duckdb
    import google.cloud.bigquery as bq
    from importlib.metadata import version

    return (f"{dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC, {platform.machine()} "
            f"{platform.system()} ({_cpus()} CPUs), Python {platform.python_version()}, "
            f"google-cloud-bigquery {bq.__version__}, bqemulator {version('bqemulator')}, "
            f"duckdb {duckdb.__version__}")


def _cpus() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 0


def summary_rows(figs: Figures) -> list[tuple[str, str, str]]:
    p = figs.parts
    rows: list[tuple[str, str, str]] = []
    f = p.get("faults")
    if f:
        kinds = ", ".join(f"{k} {v}" for k, v in f["faults_by_kind"].items())
        rows.append((
            "Transient faults",
            f"full applies through a loopback proxy failing {f['fault_rate']:.0%} of requests (seed {f['seed']}, "
            f"at most {f['max_faults']}): {f['requests']:,} requests, **{f['faults']} faults survived** ({kinds}); "
            f"client timeout {f['client_timeout_s']:g} s, adapter retries {f['adapter_retries']}",
            (f"converged after {f['applies_needed']} apply run(s) ({f['seconds']:g} s)" if f.get("converged", True)
             else f"**NOT converged** after {f['applies_needed']} apply run(s)")
            + (f" (run 1 left {sum(len(r.get('failed', [])) for r in f['runs'][:1])} failed action(s) that run 2 "
               "finished)" if f["applies_needed"] > 1 else "")
            + f"; {f['tables_checked']} tables, "
            f"{f['rows_checked']:,} rows checked against their sources: **rows lost {f['rows_lost']}**, "
            f"rows duplicated {f['rows_duplicated']}"))
    c = p.get("crashes")
    if c:
        ok = sum(1 for x in c if x.get("converged") and not x.get("tables_wrong") and not x.get("failed"))
        rows.append((
            "Crashes",
            f"`kill -9` of the apply process at {len(c)} different points "
            f"({sum(x['point'].startswith('before:') for x in c)} between actions, "
            f"{sum(x['point'] == 'merge:merged' for x in c)} inside a load, "
            f"{sum(x['point'] == 'migrate:copied' for x in c)} inside a migration, "
            f"{sum(x['point'].startswith('relocate:') for x in c)} in a relocation: every step)",
            f"**{ok}/{len(c)} crashes survived**: one more apply converged and every table matched its source "
            f"({sum(x['rows_checked'] for x in c):,} rows checked); **rows lost "
            f"{sum(x['rows_lost'] for x in c)}**, rows duplicated {sum(x['rows_duplicated'] for x in c)}"))
    k = p.get("concurrency")
    if k:
        rows.append((
            "Concurrency",
            f"{k['processes']} `reconcile apply` processes started at once on one project "
            f"({k['waiting']} with `--wait-lease`, {k['no_wait']} without)",
            f"{k['held']} run(s) applied changes under the lease, never two at once (overlaps {k['overlaps']}); "
            f"{k['refused']} exited at once with the lease message (exit 1), {k['waited_then_replanned']} waited, "
            f"planned again under the lease and found nothing left to do (exit 0); end state "
            f"{'converged' if k['converged'] else 'NOT converged'}, rows lost {k['rows_lost']}"))
    b = p.get("bad_inputs")
    if b:
        rows.append((
            "Bad input",
            f"{b['cases']} files in `tests/reliability/bad_inputs/` (malformed YAML, unknown keys, hostile "
            f"identifiers, escaping paths, wrong-typed, duplicate-key and placeholder Parquet, empty and truncated "
            f"files, undeclared datasets, ...)",
            f"**{b['refused']}/{b['cases']} cases refused** with a message naming the file and field "
            f"(exit 1, nothing sent: {b['exit_1']}; exit 3 with RefuseLoad: {b['exit_3']}); warehouse unchanged "
            f"in {b['unchanged']}/{b['cases']}"))
    r = p.get("red_team")
    if r:  # issue 18: tests/reliability/test_red_team.py and test_bounded_waits.py
        cases = [c for part in r for c in part.get("results", [part])]
        waits = [c for c in cases if "seconds" in c]
        rows.append((
            "Red team",
            f"{len(cases)} attacks of issue 18 against a converged project beside two unmanaged datasets "
            f"(destructive or out-of-bounds transform SQL, multi-statement views, DDL smuggling statements past "
            f"triple-quoted and raw strings, closed / silent / HTTP 500 / garbage-JSON endpoints, FIFO and device "
            f"paths); warehouse compared before and after each by content checksums",
            f"**{sum(bool(c.get('refused')) for c in cases)}/{len(cases)} refused**; **rows changed "
            f"{sum(c.get('rows_changed', 0) for c in cases)}**; warehouse unchanged in "
            f"{sum(c.get('unchanged', True) for c in cases)}/{len(cases)}"
            + (f"; slowest endpoint failure {max(c['seconds'] for c in waits):.1f} s" if waits else "")))
    s = p.get("secrets")
    if s:
        rows.append((
            "Secrets",
            f"a service-account key configured (a throwaway RSA key), {s['token_requests']} token(s) obtained "
            f"with it; {len(s['checked'])} outputs scanned (logs, reports, artifact, run records, requests)",
            f"**{s['hits']} occurrences** of the private key, its id, the signed JWTs"))
    return rows


def readme_block(figs: Figures) -> str:
    took = f"; the suite took {figs.seconds:g} s" if figs.seconds else ""
    lines = [f"Generated by `make reliability` ({_env()}{took}); details in "
             "[`tests/reliability/results.md`](tests/reliability/results.md).", "",
             "| part | what the suite did | result |", "|---|---|---|"]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in summary_rows(figs)]
    return "\n".join(lines)


def render(figs: Figures) -> str:
    out = ["# Reliability suite: results", "",
           "Generated by `make reliability` (`pytest -m reliability tests/reliability`); do not edit by hand.",
           f"Run: {_env()}" + (f"; the suite's tests took {figs.seconds:g} s" if figs.seconds else "") + ".",
           "", "| part | what the suite did | result |", "|---|---|---|"]
    out += [f"| {a} | {b} | {c} |" for a, b, c in summary_rows(figs)]
    f = figs.parts.get("faults")
    if f:
        out += ["", "## Transient faults: runs", "", "| run | changes | outcome | requests | seconds |",
                "|---|---|---|---|---|"]
        for i, r in enumerate(f["runs"], 1):
            outcome = r.get("error") or (", ".join(f"{k} {v}" for k, v in sorted(r.get("counts", {}).items()))
                                         or "nothing to do")
            if r.get("failed"):
                outcome += "; failed: " + "; ".join(
                    (x.split(":", 1)[0] + ": …" + x[-130:]) if len(x) > 200 else x for x in r["failed"])
            out.append(f"| {i} | {r.get('changes', '-')} | {outcome} | {r['requests']:,} | {r['seconds']:g} |")
        out.append("")
        out.append(f"Load-ledger rows recorded twice: {f['ledger_duplicate_rows']} (the emulator re-runs a job "
                   "inserted again with the same id after a lost answer, where BigQuery answers 409 and the client "
                   "reads the first job: docs/emulator.md).")
    c = figs.parts.get("crashes")
    if c:
        out += ["", "## Crashes: kill -9 points", "",
                "| # | pause point | where | when killed | next apply (outcomes) | converged | rows checked | "
                "rows lost | duplicated |", "|---|---|---|---|---|---|---|---|---|"]
        for i, x in enumerate(c, 1):
            if "error" in x:
                out.append(f"| {i} | `{x['point']}` | {x['where']} | error | - | no | - | - | - |")
                continue
            out.append(f"| {i} | `{x['point']}` | {x['where']} | {x['after_kill']} | {x['next_apply']} | "
                       f"{'yes' if x['converged'] and not x['tables_wrong'] else 'NO'} | {x['rows_checked']:,} | "
                       f"{x['rows_lost']} | {x['rows_duplicated']} |")
    k = figs.parts.get("concurrency")
    if k:
        out += ["", "## Concurrency: the four applies", "", "| process | command | exit | outcome |",
                "|---|---|---|---|"]
        for x in k["runs"]:
            out.append(f"| {x['name']} (pid {x['pid']}) | `reconcile {x['flags']}` | {x['exit']} | "
                       f"{x['outcome'].replace('|', '/')} |")
        out.append("")
        out.append("Runs that applied changes (from `<ops>.run_records`): " + "; ".join(
            f"{r['run_id']} {r['start'][11:23]} to {r['end'][11:23]}" for r in k["intervals"]) + ".")
    b = figs.parts.get("bad_inputs")
    if b:
        out += ["", "## Bad input corpus", "", "| file | used as | exit | message |", "|---|---|---|---|"]
        for x in b["results"]:
            msg = x["message"].replace("|", "\\|").replace("\n", " ")
            out.append(f"| `{x['file']}` | {x['as']} | {x['exit']} | {msg} |")
    s = figs.parts.get("secrets")
    if s:
        out += ["", "## Secrets", "", s["how"], "", "| place checked | bytes scanned | occurrences |", "|---|---|---|"]
        for name, n, hits in s["scanned"]:
            out.append(f"| {name} | {n:,} | {hits} |")
    return "\n".join(out) + "\n"
