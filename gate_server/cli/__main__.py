import sys

from gate_server.cli import main

sys.exit(main())
