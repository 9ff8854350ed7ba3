"""The README's first hour, run verbatim: its block goes from nothing to a judged check
with the real server, the real probe recording two real processes, and the API the Action
calls. Only `run-web.sh` (the reader's own service) is supplied here."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# A stand-in for the reader's service: a steady stream of syscalls (reads of its config,
# a log append). `record --duration` leaves a launched service running, as a real one should
# be; this one ends itself a little after the recordings.
RUN_WEB = """#!/bin/sh
end=$(( $(date +%s) + 40 ))
while [ "$(date +%s)" -lt "$end" ]; do
    cat /etc/hostname > /dev/null
    echo request >> web.log
    sleep 0.005
done
"""


def first_hour_block() -> str:
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## The first hour"):readme.index("\n## ", readme.index("## The first hour") + 1)]
    (block,) = re.findall(r"```sh\n(.*?)```", section, re.S)
    return block


@pytest.mark.slow
def test_the_readme_first_hour_runs_top_to_bottom_as_written(ebpf, tmp_path):
    (tmp_path / "run-web.sh").write_text(RUN_WEB)
    (tmp_path / "run-web.sh").chmod(0o755)
    script = tmp_path / "first-hour.sh"
    script.write_text("set -euo pipefail\n" + first_hour_block())
    env = {key: value for key, value in os.environ.items() if not key.startswith(("GATE_", "PROMETHEUS_"))}
    env["PATH"] = f"{Path(sys.executable).parent}:{env.get('PATH', '/usr/bin:/bin')}"
    # Output to files: what the block leaves running (the service) would hold a pipe open.
    with open(tmp_path / "out", "w") as out, open(tmp_path / "err", "w") as err:
        shell = subprocess.Popen(["bash", str(script)], cwd=tmp_path, env=env, stdout=out, stderr=err,
                                 start_new_session=True)
        try:
            status = shell.wait(timeout=240)
        finally:
            try:
                os.killpg(shell.pid, signal.SIGKILL)  # the session this test started, nothing else
            except ProcessLookupError:
                pass
    stdout, stderr = (tmp_path / "out").read_text(), (tmp_path / "err").read_text()
    assert status == 0, f"{stdout[-3000:]}\n{stderr[-3000:]}"
    assert "0 FAIL" in stdout
    verdict = json.loads(stdout[stdout.index('{"'):].splitlines()[0])
    assert verdict["verdict"] in ("pass", "warn") and verdict["canary_version"] == "v42"
    assert (tmp_path / "check-token").read_text().startswith("sg_")
