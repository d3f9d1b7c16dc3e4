"""``python -m symws``: the same program as the ``symws`` command."""

import sys

from symws.cli import main

sys.exit(main())
