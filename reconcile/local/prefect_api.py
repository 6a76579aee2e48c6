"""The local Prefect server, asked over its REST API (urllib on 127.0.0.1): is it
healthy, does the work pool exist, which workers are online, what is deployed.

Read-only questions, each one or two requests; this module, like the rest of the
library, does not import Prefect.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

WORK_POOL = "local-process"


def _http(method: str, url: str, body: Any = None, timeout: float = 5.0) -> Any:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as r:  # noqa: S310 - loopback only
        text = r.read().decode()
    return json.loads(text) if text else None


def server_healthy(api_url: str, timeout: float = 2.0) -> bool:
    try:
        return _http("GET", f"{api_url}/health", timeout=timeout) is True
    except Exception:  # noqa: BLE001 - any failure means "not healthy"
        return False


def work_pool_exists(api_url: str, name: str = WORK_POOL) -> bool:
    try:
        _http("GET", f"{api_url}/work_pools/{name}")
        return True
    except urllib.error.HTTPError as e:
        if e.code == 404:
            return False
        raise


def workers_online(api_url: str, pool: str = WORK_POOL) -> list[dict[str, Any]]:
    try:
        found = _http("POST", f"{api_url}/work_pools/{pool}/workers/filter", {"limit": 50})
    except Exception:  # noqa: BLE001
        return []
    return [w for w in found or [] if w.get("status") == "ONLINE"]


def deployments(api_url: str) -> list[dict[str, Any]]:
    """Deployed (flow name, deployment name, schedules), read over the REST API."""
    try:
        deps = _http("POST", f"{api_url}/deployments/filter", {"limit": 200})
        flows = {f["id"]: f["name"] for f in _http("POST", f"{api_url}/flows/filter", {"limit": 200})}
    except Exception:  # noqa: BLE001
        return []
    out = []
    for d in deps:
        out.append({
            "name": f"{flows.get(d['flow_id'], '?')}/{d['name']}",
            "work_pool": d.get("work_pool_name"),
            "schedules": [{"schedule": s.get("schedule"), "active": s.get("active")}
                          for s in d.get("schedules") or []],
        })
    return sorted(out, key=lambda d: d["name"])


def ui_settings(ui_url: str, timeout: float = 2.0) -> dict[str, Any] | None:
    """What the server tells the UI in the browser (`GET /ui-settings`): above all
    `api_url`, the API the UI calls. None if the server does not answer."""
    try:
        found = _http("GET", f"{ui_url.rstrip('/')}/ui-settings", timeout=timeout)
    except Exception:  # noqa: BLE001 - any failure means "no answer"
        return None
    return found if isinstance(found, dict) else None
