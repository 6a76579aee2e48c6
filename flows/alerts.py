"""Apply the shipped drift alert (flows/drift_alert.yaml) to a Prefect server.

    PREFECT_API_URL=http://127.0.0.1:4200/api python -m flows.alerts [--webhook-url URL]

The file holds Prefect automations in the format `prefect automation create
--from-file` reads, plus the name of the notification block they send through
(`notification_block`). Applying resolves that block (any notification block type;
if none has the name, a Custom Webhook block posting to `--webhook-url` or
RECONCILE_DRIFT_WEBHOOK_URL is created), fills its id into each send-notification
action and creates each automation, or updates the one of the same name: applying
twice leaves one automation. `reconcile local up` runs this after deploying.
Prints one line saying what it did; exit 0, or 1 when the alert could not be applied.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any
from uuid import UUID

import yaml

ALERTS_FILE = Path(__file__).with_name("drift_alert.yaml")
WEBHOOK_ENV = "RECONCILE_DRIFT_WEBHOOK_URL"
PLACEHOLDER = "{{ notification_block }}"


class AlertError(RuntimeError):
    """The alert cannot be applied (one line for the user)."""


def _notification_block(client: Any, name: str, webhook_url: str | None) -> UUID:
    """The id of the notification block called `name`, created as a Custom Webhook
    block posting to `webhook_url` if no block has that name."""
    from prefect.blocks.notifications import CustomWebhookNotificationBlock, NotificationBlock

    found = [d for d in client.read_block_documents(include_secrets=False) if d.name == name]
    for doc in found:
        capabilities = getattr(doc.block_schema, "capabilities", None) or []
        if "notify" in capabilities:
            return doc.id
    if found:
        raise AlertError(f"block {name!r} exists but is not a notification block "
                         f"({found[0].block_type.slug if found[0].block_type else '?'})")
    if not webhook_url:
        raise AlertError(f"no notification block named {name!r}: create one (Blocks in the UI: "
                         f"Slack, Teams, email, webhook...) or set {WEBHOOK_ENV}")
    assert issubclass(CustomWebhookNotificationBlock, NotificationBlock)
    block = CustomWebhookNotificationBlock(
        name=name, url=webhook_url, method="POST",
        json_data={"subject": "{{subject}}", "body": "{{body}}", "name": "{{name}}"})
    return block.save(name, overwrite=False)


def apply_alerts(path: Path = ALERTS_FILE, webhook_url: str | None = None) -> str:
    """Create or update the file's automations; returns one line saying what happened."""
    from prefect.client.orchestration import get_client
    from prefect.events.schemas.automations import AutomationCore

    doc = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    if not isinstance(doc, dict) or not isinstance(doc.get("automations"), list):
        raise AlertError(f"{path}: expected a mapping with an `automations` list")
    block_name = str(doc.get("notification_block") or "")
    done = []
    with get_client(sync_client=True) as client:
        block_id = _notification_block(client, block_name, webhook_url or os.environ.get(WEBHOOK_ENV))
        for raw in doc["automations"]:
            for action in raw.get("actions", []):
                if action.get("block_document_id") == PLACEHOLDER:
                    action["block_document_id"] = str(block_id)
            automation = AutomationCore.model_validate(raw)
            existing = client.read_automations_by_name(automation.name)
            if existing:
                client.update_automation(existing[0].id, automation)
                for extra in existing[1:]:  # one automation per name
                    client.delete_automation(extra.id)
                done.append(f"{automation.name} (updated)")
            else:
                client.create_automation(automation)
                done.append(f"{automation.name} (created)")
    return f"automations     {', '.join(done)} -> notification block {block_name!r}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m flows.alerts", description=__doc__.split("\n")[0])
    parser.add_argument("--file", default=str(ALERTS_FILE), help="automations YAML (default: the shipped one)")
    parser.add_argument("--webhook-url", help=f"URL of the webhook block to create if none exists "
                        f"(default: ${WEBHOOK_ENV})")
    args = parser.parse_args(argv)
    try:
        print(apply_alerts(Path(args.file), args.webhook_url))
    except AlertError as e:
        print(f"drift alert not applied: {e}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
