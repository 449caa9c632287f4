"""`python -m diagops`: the same entry point as the `diagops` console script."""

import sys

from diagops.cli.__main__ import main

sys.exit(main())
