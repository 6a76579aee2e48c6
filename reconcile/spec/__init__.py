"""The desired state: strict pydantic models of the spec, loading and validating
YAML files (`model`), CREATE TABLE files (`ddl`), staging files on disk
(`sources`) and where each spec value came from (`origins`). No BigQuery, no clock.
"""
