"""The local stack on 127.0.0.1: the bundled BigQuery emulator (`emulator`) and
the Prefect server, deployments and worker (`stack`, asking Prefect over HTTP in
`prefect_api`), every process stopped by the PID it recorded (`processes`).
"""
