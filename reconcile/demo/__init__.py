"""Offline demo data for cbi-v14, built only from real datasets shipped in PyPI packages:
where each value comes from (`provenance`), each data set read and checked (`series`), the
staging files and legacy warehouse built from them (`data`), loading them into the local
BigQuery (`seed`), and the generator of the committed SQL (`sqlgen`).
"""
