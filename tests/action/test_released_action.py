"""A released tag of the Action runs where no package index is reachable: the tag ships the
client's pinned wheels (scripts/action-wheels.sh) and the composite step installs from them."""

from __future__ import annotations

import shutil

from tests.action.composite import run_steps
from tests.action.conftest import ACTION_DIR, GITHUB_TOKEN, PUSH_SHA, REPOSITORY, ROOT, parse_github_output
from tests.action.profiles import BAD_CANARY, BASELINE, SERVICE

# Nothing listens on port 9 of loopback: any attempt to reach an index fails at once.
UNREACHABLE_INDEX = "http://127.0.0.1:9/simple"


def released_checkout(tmp_path, client_wheelhouse):
    """What `uses: <owner>/syscall-gate@v1` checks out: action.yml and action/, with action/wheels."""
    checkout = tmp_path / "syscall-gate@v1"
    shutil.copytree(ACTION_DIR, checkout / "action", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "action.yml", checkout / "action.yml")
    shutil.copytree(client_wheelhouse, checkout / "action" / "wheels")
    return checkout


def test_the_released_action_gates_with_no_package_index(tmp_path, gate, fake_github, client_wheelhouse):
    checkout = released_checkout(tmp_path, client_wheelhouse)
    workspace, temp = tmp_path / "workspace", tmp_path / "runner-temp"
    workspace.mkdir()
    temp.mkdir()
    env = {
        "PATH": f"{ROOT / '.venv' / 'bin'}:/usr/bin:/bin", "HOME": str(tmp_path),
        # The runner's pip can reach no index and has no wheelhouse of its own.
        "PIP_INDEX_URL": UNREACHABLE_INDEX, "PIP_RETRIES": "0", "PIP_TIMEOUT": "2",
        "GITHUB_WORKSPACE": str(workspace), "RUNNER_TEMP": str(temp),
        "GITHUB_OUTPUT": str(temp / "output.txt"), "GITHUB_STEP_SUMMARY": str(temp / "summary.md"),
        "GITHUB_API_URL": fake_github.url, "GITHUB_SERVER_URL": "https://github.example",
        "GITHUB_REPOSITORY": REPOSITORY, "GITHUB_SHA": PUSH_SHA, "GITHUB_EVENT_NAME": "push", "GITHUB_RUN_ID": "4243",
    }
    inputs = {"gate-url": gate.url, "token": gate.token, "service": SERVICE, "baseline-version": BASELINE,
              "canary-version": BAD_CANARY, "stage": "5%", "github-token": GITHUB_TOKEN}

    result = run_steps(checkout / "action.yml", checkout, workspace, env, inputs)

    assert result.returncode == 1, result.stdout + result.stderr  # the pause fails the step, as it should
    assert parse_github_output((temp / "output.txt").read_text())["verdict"] == "pause"
