"""The apply handlers: one function per acting action class, in `HANDLERS`.

A handler is `fn(ctx: Context, action) -> Done` and keeps the executor's promises:

* Check before acting. It first looks at the live object (exists? how many rows?
  already in the ledger?) and does only what is still missing, so a retry, or a
  rerun after a crash, finishes the job without duplicating anything.
* Data stays in BigQuery: loads go file -> temporary table -> one MERGE on the
  declared keys (never WRITE_TRUNCATE, never CREATE OR REPLACE TABLE); copies are
  copy jobs (they cross regions, queries do not); counts are exact COUNT(*).
* Nothing is deleted before its copy is verified: a migration's backup must exist,
  a relocation deletes the old dataset only after every table's copy has the same
  row count, an archive deletes a source dataset only if allowed and not kept.

It returns `done(...)` / `noop(...)` or raises `ActionFailed`. Report-only kinds
(diagnostics and flags) have no handler: the run reports them as 'skipped'
(`Action.skip_reason`). The modules below register their kinds; `HANDLERS.verify()`
fails at import if an acting kind has none.
"""

from reconcile.apply.handlers.base import HANDLERS
from reconcile.apply.handlers import (  # noqa: F401 - each module registers its kinds
    archive, datasets, loads, migrations, tables, transforms, validate,
)

HANDLERS.verify()

__all__ = ["HANDLERS"]
