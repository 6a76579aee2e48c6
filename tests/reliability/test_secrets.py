"""Secrets: with a service-account key configured, no key material reaches a log line,
an artifact, a report or a run record.

The key is real but throwaway: an RSA key generated here (`cryptography`), in a
service-account JSON key file with a random key id. Its `token_uri` is a loopback token
endpoint (below) so the Google auth library signs a real JWT with it and trades it for an
access token, offline. The `bigquery` target is then pointed at the local BigQuery with
BIGQUERY_EMULATOR_HOST (the official client honours it), so the whole real-target path
runs: application default credentials from GOOGLE_APPLICATION_CREDENTIALS, a token, and
authorised requests, through a loopback proxy that records every request.

Scanned for the private key (PEM and every base64 line of its body), the key id, the
signed JWT the library sent to the token endpoint and the access token it got back:
the CLI's stdout and stderr (`-v`), the reports it writes (`--out` Markdown and JSON, a
snapshot file), every request sent to BigQuery (the access token is expected there, in
the Authorization header only), <ops>.run_records and <ops>.load_ledger, the result
Markdown the Prefect flows publish as an artifact (rendered from a real run), and every
Python log record at DEBUG of an in-process apply, including
`reconcile.targets._prefect_gcp_credentials` with a GcpCredentials block holding the key.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

import reliability_scenario as scenario
from apply_helpers import copy_staging, write_spec
from loopback_proxy import LoopbackProxy
from reconcile.bq import targets
from reconcile.cli import main as cli
from reconcile.apply import executor
from reconcile.local import emulator as local
from reconcile.bq.adapter import Adapter
from reconcile.plan.planner import plan as make_plan
from reconcile.render.result import RunReport, assess, render_result_markdown
from reconcile.snapshot.read import read_snapshot
from reconcile.spec.sources import read_sources

pytestmark = [pytest.mark.reliability, pytest.mark.integration]

ACCESS_TOKEN = "ya29.reliability-" + secrets.token_hex(16)


class TokenEndpoint:
    """OAuth token endpoint on 127.0.0.1: records the assertions, returns ACCESS_TOKEN."""

    def __init__(self):
        self.assertions: list[str] = []
        outer = self

        class H(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
                from urllib.parse import parse_qs

                outer.assertions += parse_qs(body).get("assertion", [])
                out = json.dumps({"access_token": ACCESS_TOKEN, "expires_in": 3600,
                                  "token_type": "Bearer"}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            def log_message(self, *a):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/token"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def make_key(path: Path, token_uri: str) -> dict:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    info = {"type": "service_account", "project_id": "cbi-v14", "private_key_id": secrets.token_hex(20),
            "private_key": pem, "client_email": "reconciler@cbi-v14.iam.gserviceaccount.com",
            "client_id": "104857600000000000001", "token_uri": token_uri,
            "auth_uri": "https://accounts.google.com/o/oauth2/auth"}
    path.write_text(json.dumps(info), encoding="utf-8")
    return info


def spec_text_for(p: str) -> str:
    """The scenario's spec with two real-BigQuery targets: application default credentials
    (GOOGLE_APPLICATION_CREDENTIALS), and a prefect-gcp GcpCredentials block. They point at
    the local emulator, which cannot replicate datasets, so they relocate by `copy` (the
    `bigquery` type's default is `replica`: docs/bigquery.md)."""
    return scenario.spec_text(p).replace(
        "        datasets:\n",
        "        targets:\n          bigquery: {type: bigquery, project: cbi-v14, relocation: copy}\n"
        "          with_block: {type: bigquery, project: cbi-v14, relocation: copy, credentials_block: reconcile-secrets-test}\n"
        "        datasets:\n", 1)


def needles(info: dict, token: TokenEndpoint) -> dict[str, str]:
    """What must appear nowhere: the PEM, each of its base64 lines, the key id, the JWTs."""
    pem = info["private_key"]
    out = {"private key (PEM)": pem.strip(), "key id": info["private_key_id"], "PEM header": "PRIVATE KEY-----"}
    body = [ln for ln in pem.splitlines() if ln and not ln.startswith("-----")]
    for i, ln in enumerate(body):
        out[f"PEM body line {i + 1}"] = ln
    for i, a in enumerate(token.assertions):
        out[f"signed JWT {i + 1}"] = a
        out[f"JWT {i + 1} signature"] = a.rsplit(".", 1)[-1]
    return out


def scan(places: dict[str, str], secret: dict[str, str]) -> tuple[list[tuple[str, int, int]], list[str]]:
    rows, hits = [], []
    for place, text in places.items():
        found = [name for name, s in secret.items() if s and s in text]
        rows.append((place, len(text.encode()), len(found)))
        hits += [f"{name} in {place}" for name in found]
    return rows, hits


@pytest.mark.timeout(300)
def test_no_key_material_in_logs_reports_artifacts_or_run_records(
        emulator: local.LocalEmulator, adapter: Adapter, ds_prefix: str, project_root: Path,
        staging_src: Path, tmp_path: Path, caplog, monkeypatch, figures) -> None:
    p = ds_prefix
    copy_staging(staging_src, project_root, scenario.STAGING)
    scenario.seed(adapter, p, staging_src, tmp_path)
    write_spec(project_root, spec_text_for(p), scenario.files(p))
    spec = project_root / "desired_state" / "spec.yaml"
    # the in-process run (part 2) writes its own spec file beside it
    places: dict[str, str] = {}

    with TokenEndpoint() as token, LoopbackProxy(emulator.endpoint, record=True) as proxy:
        info = make_key(tmp_path / "sa-key.json", token.url)

        # 1. The CLI, as a user runs it: GOOGLE_APPLICATION_CREDENTIALS, target bigquery, -v.
        env = {**os.environ, "GOOGLE_APPLICATION_CREDENTIALS": str(tmp_path / "sa-key.json"),
               "BIGQUERY_EMULATOR_HOST": proxy.endpoint, "NO_COLOR": "1"}

        def cli_run(name: str, *argv: str) -> subprocess.CompletedProcess:
            r = subprocess.run([sys.executable, "-m", "reconcile.cli", *argv, "--spec", str(spec),
                                "--target", "bigquery"], env=env, capture_output=True, text=True,
                               timeout=180, cwd=project_root)
            places[f"`reconcile {name}` stdout"] = r.stdout
            places[f"`reconcile {name}` stderr"] = r.stderr
            return r

        cli_run("plan --format markdown", "plan", "--format", "markdown", "--approve-relocation", f"{p}mkt",
                "--out", str(tmp_path / "plan.md"))
        cli_run("plan --format json", "plan", "--format", "json", "--approve-relocation", f"{p}mkt",
                "--out", str(tmp_path / "plan.json"))
        r = cli_run("apply -v", "apply", "-v", "--auto-approve", "--approve-relocation", f"{p}mkt")
        assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
        cli_run("snapshot", "snapshot", "--out", str(tmp_path / "snapshot.json"))
        for f in ("plan.md", "plan.json", "snapshot.json"):
            places[f"report file {f}"] = (tmp_path / f).read_text(encoding="utf-8")

        # 2. In process, every logger at DEBUG: the key through a prefect-gcp GcpCredentials
        # block (its storage stubbed: no Prefect server here; a corrupt copy takes the warning
        # path), connect, a snapshot, a full apply of a second copy of the scenario, and the
        # result Markdown the flows publish as a Prefect artifact. Prefect replaces the root
        # logger's handlers when it is imported, so the capture handler goes on afterwards.
        from prefect_gcp import GcpCredentials

        records: list[logging.LogRecord] = []
        handler = logging.Handler(logging.DEBUG)
        handler.emit = records.append  # type: ignore[method-assign]
        root = logging.getLogger()
        old_level = root.level
        root.addHandler(handler)
        root.setLevel(logging.DEBUG)
        monkeypatch.setenv("BIGQUERY_EMULATOR_HOST", proxy.endpoint)
        monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "sa-key.json"))
        try:
            broken = dict(info, private_key=info["private_key"][:200])
            monkeypatch.setattr(GcpCredentials, "load", classmethod(
                lambda cls, name, **kw: GcpCredentials(service_account_info=broken)))
            try:  # refused (CliError), or None in older versions: either way, say nothing of the key
                refused = str(targets._prefect_gcp_credentials("reconcile-secrets-test-broken"))
            except targets.TargetError as e:
                refused = str(e)
            places["error for a corrupt GcpCredentials block"] = refused
            monkeypatch.setattr(GcpCredentials, "load", classmethod(
                lambda cls, name, **kw: GcpCredentials(service_account_info=dict(info))))
            creds = targets._prefect_gcp_credentials("reconcile-secrets-test")
            assert creds is not None and creds.service_account_email.startswith("reconciler@")
            q = p + "b_"
            scenario.seed(adapter, q, staging_src, tmp_path)
            desired_b = write_spec(project_root, spec_text_for(q), scenario.files(q))
            run_id = executor.new_run_id()
            ad = targets.connect(desired_b, "with_block", run_id=run_id)
            snap = read_snapshot(ad, desired_b, target="with_block")
            pl = make_plan(desired_b, snap, read_sources(desired_b), approvals=[f"{q}mkt"])
            with executor.lease(ad, desired_b, run_id):
                result = executor.apply(pl, desired_b, ad, run_id=run_id)
            assert result.ok, [(o.key, o.detail) for o in result.outcomes if o.status == "failed"]
            after = make_plan(desired_b, read_snapshot(ad, desired_b), read_sources(desired_b))
            places["Prefect result artifact (Markdown)"] = render_result_markdown(RunReport(
                title="reconcile", project=desired_b.project, target="with_block", run_id=run_id,
                converged=result.ok, reason="secrets test", outcomes=result.outcomes, after=assess(after)))
        finally:
            root.removeHandler(handler)
            root.setLevel(old_level)
        fmt = logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s")
        places[f"Python log records at DEBUG, in-process apply ({len(records)} records)"] = "\n".join(
            fmt.format(r) + " " + repr(r.args) for r in records)
        places["requests sent to BigQuery (line, headers, body)"] = b"\n".join(
            proxy.stats.recorded).decode("utf-8", "replace")
    assert token.assertions, "the key was never used: no token was requested"
    assert ACCESS_TOKEN in places["requests sent to BigQuery (line, headers, body)"]  # authorised requests

    for table in ("run_records", "load_ledger"):
        rows = [r for ops in (f"{p}ops", f"{p}b_ops")
                for r in adapter.query(f"SELECT TO_JSON_STRING(t) AS j FROM {adapter.q(f'{ops}.{table}')} AS t")]
        places[f"<ops>.{table}, both runs ({len(rows)} rows)"] = "\n".join(r["j"] for r in rows)

    secret = needles(info, token)
    # The access token belongs in the Authorization header of requests, nowhere else.
    bq_requests = places.pop("requests sent to BigQuery (line, headers, body)")
    rows, hits = scan(places, {**secret, "access token": ACCESS_TOKEN})
    rows_rq, hits_rq = scan({"requests sent to BigQuery (line, headers, body)": bq_requests}, secret)
    rows += rows_rq
    hits += hits_rq
    figures.add("secrets", {
        "checked": [name for name, _, _ in rows], "scanned": rows, "hits": len(hits), "found": hits,
        "token_requests": len(token.assertions), "requests": proxy.stats.requests,
        "how": ("A throwaway RSA key (generated with `cryptography`) in a service-account key file "
                "(GOOGLE_APPLICATION_CREDENTIALS) and in a prefect-gcp GcpCredentials block; the `bigquery` "
                f"target pointed at the local BigQuery; {len(token.assertions)} JWT(s) signed with it and "
                f"traded for an access token at a loopback token endpoint; {proxy.stats.requests} authorised "
                "requests. Searched for: the PEM, each base64 line of its body, the key id, the signed JWTs "
                "and their signatures, and (outside request headers) the access token."),
    })
    assert not hits, hits
