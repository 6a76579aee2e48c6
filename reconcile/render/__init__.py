"""Reports, pure strings from data: a plan as text, Markdown or JSON (`plan`, the
entry; `describe`, `text`, `markdown`, `json`, `items` behind it), a run's result
and drift (`result`), and the helpers every report shares: the one Markdown
escaper (`md`) and numbers and durations in words (`units`); the machine-readable
run result (`run_result`) and the JSON Schemas of plan, result and status, generated
from their models into docs/schemas/ (`schemas`). No I/O.
"""
