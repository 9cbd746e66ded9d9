"""``python -m ae_core``: see ``ae_core.cli``."""

import sys

from ae_core.cli import main

sys.exit(main())
