"""`python -m reconcile.cli`: the same command line as the `reconcile` script."""

import sys

from reconcile.cli.main import main

sys.exit(main())
