"""Whether a failed step is worth retrying, from what BigQuery last answered.

A failed action reaches its caller as an outcome with a message, not an exception;
whether the failure was transient is read from BigQuery's last error answer during
the step (a response hook on the adapter's HTTP session, the mechanism the adapter
uses to count requests) and judged by `reconcile.bq.adapter.is_transient`, the one
classification. The last *error*, not the last answer: after a failure the run
still writes what it observed, and that write succeeds. The library never retries
at this level; the flows' task retries ask this.
"""

from __future__ import annotations

from typing import Any

from reconcile.bq.adapter import Adapter, is_transient


class ResponseWatch:
    """Remembers the last error status the adapter's session received."""

    def __init__(self, adapter: Adapter):
        self.last_error: int | None = None
        http = getattr(adapter.client, "_http", None)
        if http is not None and hasattr(http, "hooks"):
            http.hooks.setdefault("response", []).append(self._hook)

    def _hook(self, response: Any, *args: Any, **kwargs: Any) -> Any:
        status = getattr(response, "status_code", None)
        if status is not None and status >= 400 and status != 404:  # 404: "does it exist?" lookups
            self.last_error = status
        return response

    def reset(self) -> None:
        self.last_error = None

    def transient(self, detail: str = "", exc: BaseException | None = None) -> bool:
        """Whether the failure since the last reset (its message, its exception) is transient."""
        return is_transient(exc, status=self.last_error, detail=detail)
