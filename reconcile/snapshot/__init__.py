"""The live warehouse as data (`model.Snapshot`, pure, JSON round-trip), the
reader that fills it in a few INFORMATION_SCHEMA queries (`read.read_snapshot`),
and the one-scan measurement of a table's data expectations (`observe`).
"""
