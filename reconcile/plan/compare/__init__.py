"""The planner's comparisons, one module per concern (as Alembic's autogenerate
`compare/`): datasets, tables, views, migrations, loads, transforms (with the
expectation gates), archive, unmanaged.

Each module has one `compare(inputs, state)` that reads the desired state and the
snapshot from `inputs` (a `PlanInputs`), reads what earlier comparisons added to
`state` (a `PlanState`, whose fields say who adds and who reads what) and adds its
own actions and findings. `planner.plan()` runs them in sequence. Pure: no I/O,
no clock; the comparisons never import each other.
"""
