"""The executor's public names in one import: a facade over the modules of `reconcile.apply`.

The code lives in the modules it re-exports from; import from them in new code. This
module exists so callers that carry a plan out (`executor.apply`, `executor.lease`,
...) and the tests that drive the executor from outside (crash runners, the reliability
and data suites, benchmarks) keep one stable name. It defines nothing itself.

    results      Outcome, ApplyResult, ActionFailed, STATUSES, new_run_id
    context      Context: dataset locations, ops tables, load ledger, checkpoints;
                 the crash tests' pause hook (PAUSE_ENV, PAUSE_MARKER)
    handlers/    HANDLERS: one handler per acting action class (datasets, tables and
                 views, loads and their MERGE, backups and migrations, archive,
                 transforms, validations), an ActionRegistry verified at import
    relocation   the relocation state machine (RELOCATION_STEPS), resumable
    dryrun       DESCRIBERS: what each acting action would do, no request sent
    run          Run and apply(): the plan walked in order; report-only actions are
                 'skipped', blocked ones and those that depend on a failure 'blocked'
                 (the actions' own `touches` / `taints`)
    records      the run's outcomes written to <ops>.run_records
    lease        one apply per project (<ops>.lease)
    session      the one apply orchestration the CLI and the flows call
"""

from __future__ import annotations

from reconcile.apply.context import PAUSE_ENV, PAUSE_MARKER, pause
from reconcile.apply.dryrun import DESCRIBERS
from reconcile.apply.handlers import HANDLERS
from reconcile.apply.handlers.loads import TMP_PREFIX, merge_sql, tmp_table_for
from reconcile.apply.lease import Busy, LeaseHeld, break_lease, lease, lease_holder
from reconcile.apply.relocation import RELOCATION_STEPS
from reconcile.apply.results import STATUSES, ActionFailed, ApplyResult, Outcome, new_run_id
from reconcile.apply.run import Run, apply

# The crash tests' pause hook under the name tests/reliability/pause_runner.py calls.
_pause = pause

__all__ = ["ActionFailed", "ApplyResult", "Busy", "DESCRIBERS", "HANDLERS", "LeaseHeld", "Outcome",
           "PAUSE_ENV", "PAUSE_MARKER", "RELOCATION_STEPS", "Run", "STATUSES", "TMP_PREFIX", "apply",
           "break_lease", "lease", "lease_holder", "merge_sql", "new_run_id", "tmp_table_for"]
