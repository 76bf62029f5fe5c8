"""``python -m mesiji``: the same as the ``mesiji`` command."""

import sys

from mesiji.cli import main

sys.exit(main())
