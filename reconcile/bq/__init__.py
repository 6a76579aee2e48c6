"""Everything that touches BigQuery: the one adapter (`adapter`), SQL templates
loaded from sql/ and quoted identifiers (`sqltext`), and the targets that choose
the endpoint and credentials (`targets.connect`). Only snapshot reading, apply,
status, targets and the demo seed use the adapter (a contract in pyproject.toml).
"""
