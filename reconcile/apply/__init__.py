"""Carrying a plan out, and the one apply session the CLI and every flow call.

`session` orchestrates an apply (plan, lease, run, re-read, verdict); `run` walks a
plan action by action; `handlers/` carry each acting kind out; `relocation` is the
relocation state machine; `dryrun` describes instead; `lease`, `records` and `context`
keep the ops tables; `executor` re-exports the public names in one import.
Side effects live here; this package does not import Prefect.
"""
