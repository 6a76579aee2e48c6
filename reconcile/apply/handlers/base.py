"""The one registry of apply handlers (filled by the modules of this package)."""

from __future__ import annotations

from typing import Any, Callable

from reconcile.apply.context import Context
from reconcile.apply.results import Done
from reconcile.plan.registry import ActionRegistry, acting_kinds

Handler = Callable[[Context, Any], Done]

HANDLERS: ActionRegistry[Handler] = ActionRegistry("apply handlers", acting_kinds())
