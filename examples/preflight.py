"""Before starting anything: can this host run the demo? One line naming what is missing."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
# (part, how to tell it is there, what to say when it is not)
PARTS = (
    ("the probe (host_probe/)", lambda: importlib.util.find_spec("host_probe.commands.cli") is not None,
     "host_probe.commands.cli is missing: `host-probe record` (issue 3) has not landed"),
    ("the gate server (gate_server/)", lambda: importlib.util.find_spec("gate_server.cli.serve") is not None,
     "gate_server/cli/serve.py is missing: `gate-server serve` (issue 4) has not landed"),
    ("the tokens command", lambda: importlib.util.find_spec("gate_server.cli.tokens") is not None,
     "gate_server/cli/tokens.py is missing: `gate-server tokens create` (issue 4) has not landed"),
    ("the Action (action/)", lambda: (REPO_ROOT / "action" / "action.yml").is_file(),
     "action/action.yml is missing: the GitHub Action (issue 5) has not landed"),
)


def check_host() -> str:
    """An empty string when the demo can run, else the first problem found."""
    for _part, present, missing in PARTS:
        if not present():
            return missing
    if os.geteuid() != 0:  # said first and plainly: the probe's doctor needs root to look around
        return "the eBPF probe needs root: run `sudo make demo`"
    # The probe's own diagnosis: kernel, BTF, tracepoints, headers, privileges, bcc.
    doctor = subprocess.run([sys.executable, "-m", "host_probe.commands.cli", "doctor"], capture_output=True,
                            text=True, timeout=60, cwd=REPO_ROOT)
    if doctor.returncode != 0:
        failing = [line for line in doctor.stdout.splitlines() if not line.startswith("ok ")]
        return "this host cannot run the eBPF probe (`host-probe doctor`):\n  " + "\n  ".join(
            failing or doctor.stderr.strip().splitlines()[-1:])
    return ""
