"""Offline demo data for cbi-v14, built only from real datasets shipped in PyPI packages."""
