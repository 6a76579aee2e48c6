"""Carrying a plan out: the executor (handlers per action class, relocation,
lease, run records) and the one apply session the CLI and every flow call.
Side effects live here; this package does not import Prefect.
"""
