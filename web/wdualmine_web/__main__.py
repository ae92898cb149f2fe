"""``python -m wdualmine_web`` is ``wdualmine-web``."""

import sys

from .app import main

sys.exit(main())
