"""``python -m mesiji.simulator``: run the SMSC simulator."""

from mesiji.simulator.cli import main

raise SystemExit(main())
