"""The desired state: strict pydantic models of the spec (`model`), loading and
validating YAML files into them (`load`), the SQL layer every SQL text the spec
references is parsed with (`sqlparse`: DDL files, views, transforms, on sqlglot),
staging files on disk (`sources`) and where each spec value came from (`origins`).
No BigQuery, no clock.
"""
