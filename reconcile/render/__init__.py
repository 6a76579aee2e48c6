"""Reports, pure strings from data: a plan as text, Markdown or JSON (`plan`),
a run's result and drift (`result`). No I/O.
"""
