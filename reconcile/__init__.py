"""bq-reconcile: a desired-state reconciler for BigQuery.

The package tree is the data flow; each stage is a package and imports only the
stages below it (checked by the import-linter contracts in pyproject.toml, run by
tests/architecture):

    cli, flows                      entry points: argument parsing, Prefect flows
    review | monitor | demo         PR tooling (spec-diff, lint, PR comment), status, demo data
    apply                           the session (plan, lease, run, re-read), handlers, relocation
    render                          plan and result reports: text, Markdown, JSON
    plan                            actions (the closed union) and the pure planner
    snapshot                        the live state as data, and reading it from INFORMATION_SCHEMA
    bq                              the BigQuery adapter, SQL templates, targets (connect)
    spec | local                    the desired state (models, loading, DDL, sources); the local stack
    identifiers                     BigQuery's naming rules

This library does not import Prefect (only `bq.targets` loads a prefect-gcp block,
lazily, when a target names one); `flows/` wraps it.
"""
