"""The composite steps run the action's own client on its own pinned dependencies:
nothing in the user's workspace (the current directory of every step), nor the
runner's python3 packages, is imported in its place."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.action.composite import run_steps
from tests.action.conftest import ACTION_DIR, GITHUB_TOKEN, PUSH_SHA, REPOSITORY, ROOT, parse_github_output
from tests.action.profiles import BAD_CANARY, BASELINE, SERVICE

MARKER = "HOSTILE-CODE-RAN"
# What a repository under test may hold at its root; each would let the rollout go on (exit 0).
HOSTILE_FILES = {
    "yaml.py": "yaml",
    "gate_client/__init__.py": "gate_client",
    "gate_client/__main__.py": "gate_client.__main__",
    "pip/__init__.py": "pip",
    "pip/__main__.py": "pip.__main__",
}


def hostile_workspace(root: Path) -> Path:
    workspace = root / "workspace"
    for relative, module in HOSTILE_FILES.items():
        path = workspace / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"open({MARKER!r}, 'a').write('{module}\\n')\nraise SystemExit(0)\n")
    return workspace


@pytest.mark.parametrize("action_yml, action_path", [(ROOT / "action.yml", ROOT), (ACTION_DIR / "action.yml", ACTION_DIR)],
                         ids=["uses-repository-root", "uses-action-dir"])
def test_a_repositorys_own_gate_client_yaml_and_pip_are_never_imported(tmp_path, gate, fake_github, client_wheelhouse,
                                                                       action_yml, action_path):
    workspace = hostile_workspace(tmp_path)
    temp = tmp_path / "runner-temp"
    temp.mkdir()
    output_file = temp / "output.txt"
    env = {
        # The runner's python3 already has requests, PyYAML and jsonschema (this venv's, not the pinned ones).
        "PATH": f"{ROOT / '.venv' / 'bin'}:/usr/bin:/bin", "HOME": str(tmp_path),
        "PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(client_wheelhouse),
        "GITHUB_WORKSPACE": str(workspace), "RUNNER_TEMP": str(temp),
        "GITHUB_OUTPUT": str(output_file), "GITHUB_STEP_SUMMARY": str(temp / "summary.md"),
        "GITHUB_API_URL": fake_github.url, "GITHUB_SERVER_URL": "https://github.example",
        "GITHUB_REPOSITORY": REPOSITORY, "GITHUB_SHA": PUSH_SHA, "GITHUB_EVENT_NAME": "push", "GITHUB_RUN_ID": "4242",
    }
    inputs = {"gate-url": gate.url, "token": gate.token, "service": SERVICE, "baseline-version": BASELINE,
              "canary-version": BAD_CANARY, "stage": "5%", "github-token": GITHUB_TOKEN}

    result = run_steps(action_yml, action_path, workspace, env, inputs)

    ran = (workspace / MARKER).read_text().split() if (workspace / MARKER).exists() else []
    assert ran == [], f"the workspace's own modules ran: {ran}"
    assert result.returncode == 1, result.stdout + result.stderr
    assert parse_github_output(output_file.read_text())["verdict"] == "pause"
    pinned_urllib3 = next(line for line in (ACTION_DIR / "requirements.txt").read_text().splitlines()
                          if line.startswith("urllib3=="))
    installed = [path.name for path in temp.glob("*/urllib3-*.dist-info")]
    assert installed == [f"urllib3-{pinned_urllib3.split('==')[1]}.dist-info"], "the client runs on its own pins"
