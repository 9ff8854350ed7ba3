"""What the composite action runs: `python3 -I -S run_client.py DEPENDENCIES_DIR`.

-I and -S keep the current directory (the user's workspace), PYTHONPATH, the user
site and the runner's site-packages off sys.path, so a repository's own
`gate_client/` or `yaml.py`, or the runner's urllib3, is never imported in place of
ours. Only this directory and the pinned dependencies installed by the step
before are put on the path.
"""

import runpy
import sys
from pathlib import Path

if __name__ == "__main__":
    if len(sys.argv) < 2:
        print("::error::usage: python3 -I -S run_client.py DEPENDENCIES_DIR", flush=True)
        sys.exit(2)
    dependencies = sys.argv.pop(1)
    sys.path[:0] = [str(Path(__file__).resolve().parent), dependencies]
    runpy.run_module("gate_client", run_name="__main__", alter_sys=True)
