"""The node agent ships without the server: with `flask` and `gate_server` made
unimportable, every module of the probe imports, its commands parse, and a real agent
writes a real workload's windows to a database through the contract's writer."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

# sitecustomize runs before the agent's first import: a server module the probe
# reaches for raises, and the agent dies saying which.
BLOCKER = '''
import sys
class BlockTheServer:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in ("flask", "gate_server"):
            raise ImportError(f"{name} is not installed on this host (the agent must not need it)")
sys.meta_path.insert(0, BlockTheServer())
sys.stderr.write("server blocked\\n")
'''

IMPORT_EVERY_MODULE = '''
import importlib, pkgutil, sys, host_probe
names = [info.name for info in pkgutil.walk_packages(host_probe.__path__, "host_probe.")]
for name in names:
    importlib.import_module(name)
assert not {"flask", "gate_server"} & {name.partition(".")[0] for name in sys.modules}
print(len(names))
'''


def blocked_environment(tmp_path: Path) -> dict[str, str]:
    site = tmp_path / "site"
    site.mkdir(exist_ok=True)
    (site / "sitecustomize.py").write_text(BLOCKER)
    return {**os.environ, "PYTHONPATH": str(site)}


def test_every_probe_module_imports_with_flask_and_gate_server_unimportable(tmp_path):
    result = subprocess.run([sys.executable, "-c", IMPORT_EVERY_MODULE], cwd=REPO, capture_output=True,
                            text=True, timeout=120, env=blocked_environment(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "server blocked" in result.stderr
    assert int(result.stdout.strip()) > 30


def test_the_blocker_stops_a_server_import(tmp_path):
    result = subprocess.run([sys.executable, "-c", "import gate_server.app"], cwd=REPO, capture_output=True,
                            text=True, timeout=120, env=blocked_environment(tmp_path))
    assert result.returncode != 0 and "gate_server is not installed on this host" in result.stderr


def test_the_probe_commands_parse_with_the_server_unimportable(tmp_path):
    for command in ("agent", "record", "doctor", "status"):
        result = subprocess.run([sys.executable, "-m", "host_probe.commands.cli", command, "--help"], cwd=REPO,
                                capture_output=True, text=True, timeout=120, env=blocked_environment(tmp_path))
        assert result.returncode == 0, result.stderr
        assert "usage:" in result.stdout


def test_the_agent_records_a_workload_with_flask_and_gate_server_unimportable(make_cgroup, agent_run, opener,
                                                                               tmp_path):
    cgroup = make_cgroup(f"sg-agent-alone-{uuid.uuid4().hex[:8]}")
    opener(tmp_path / "alone.txt", cgroup)
    run = agent_run({"workloads": [{"service": "alone", "version": "v1", "cgroup": str(cgroup)}]})
    run.start(env=blocked_environment(tmp_path))
    run.wait_for_file("alone", "v1", tmp_path / "alone.txt")
    log = run.stop()
    assert "server blocked" in log
