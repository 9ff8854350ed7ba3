"""The agent reads its config (the sources' options) before it compiles the eBPF
programs; the clients of the sources' APIs must not add to the compiler's peak RSS."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_sources_import_neither_requests_nor_docker_before_their_first_poll():
    code = ("import sys, host_probe.discovery.containers, host_probe.discovery.kubernetes; "
            "print(sorted({'requests', 'docker', 'urllib3'} & set(sys.modules)))")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
