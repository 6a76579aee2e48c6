"""Credentials for real BigQuery: a prefect-gcp GcpCredentials block named in the spec.

`reconcile.targets.connect` loads the block lazily (the library needs Prefect only when a
block is named). Nothing of the block's secret may reach a log line, the terminal, or
the repr of what the tool builds from it; a block that cannot be loaded is named in
a warning, with the error's type only.
"""

from __future__ import annotations

import logging

import pytest

from reconcile.bq import targets
from reconcile.bq.adapter import cloud_client

pytestmark = [pytest.mark.prefect, pytest.mark.usefixtures("prefect_server")]


def _private_key_pem() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


class _Records(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


def test_credentials_block_is_used_and_its_secret_never_shown(capsys):
    from prefect_gcp import GcpCredentials

    pem = _private_key_pem()
    secret = pem.splitlines()[5]  # a line from the middle of the key
    GcpCredentials(service_account_info={
        "type": "service_account", "project_id": "cbi-v14", "private_key_id": "k1",
        "private_key": pem, "client_email": "reconciler@cbi-v14.iam.gserviceaccount.com",
        "client_id": "1", "token_uri": "https://oauth2.googleapis.com/token",
    }).save("reconcile-test-sa", overwrite=True)
    assert secret not in repr(GcpCredentials.load("reconcile-test-sa"))

    # Loading a block reconfigures logging (Prefect's dictConfig replaces the root
    # handlers, caplog's too), so listen on the library's and Google's loggers directly.
    records = _Records()
    watched = [logging.getLogger(n) for n in ("reconcile", "google", "prefect")]
    for lg in watched:
        lg.addHandler(records)
    old = [lg.level for lg in watched]
    for lg in watched:
        lg.setLevel(logging.DEBUG)
    try:
        creds = targets._prefect_gcp_credentials("reconcile-test-sa")
        client = cloud_client("cbi-v14", creds)  # builds a client; sends nothing
        with pytest.raises(targets.TargetError) as missing:
            targets._prefect_gcp_credentials("reconcile-test-no-such-block")
    finally:
        for lg, level in zip(watched, old):
            lg.removeHandler(records)
            lg.setLevel(level)
    logged = "\n".join(records.lines)
    assert creds.service_account_email == "reconciler@cbi-v14.iam.gserviceaccount.com"
    assert client.project == "cbi-v14"
    # A named block that cannot be loaded is an error, never a silent switch to ADC.
    assert "credentials_block 'reconcile-test-no-such-block': cannot load" in str(missing.value)
    out = capsys.readouterr()
    shown = logged + out.out + out.err + repr(creds) + repr(client) + str(missing.value)
    assert secret not in shown and "PRIVATE KEY" not in shown
