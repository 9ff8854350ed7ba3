"""`python -m gate_client`: what the composite action runs."""

import sys

from .run import main

sys.exit(main())
