"""``python -m softgrad``: the ``softgrad`` command."""

import sys

from softgrad.cli.main import main

sys.exit(main())
