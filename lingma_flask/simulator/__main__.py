"""Entry point: `python -m lingma_flask.simulator <start|status|version> ...`."""

import sys

from .cli import main

sys.exit(main())
