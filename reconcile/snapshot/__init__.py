"""The live warehouse as data (`model.Snapshot`, pure, JSON round-trip) and the
reader that fills it in a few INFORMATION_SCHEMA queries (`read.read_snapshot`).
"""
