"""The `reconcile` command line (`main`); `python -m reconcile.cli` runs it too."""
