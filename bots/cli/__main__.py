"""`python -m bots.cli`: the `otcmm` command without the console script."""

import sys

from bots.cli.main import main

sys.exit(main())
