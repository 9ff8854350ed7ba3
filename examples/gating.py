"""Gate a canary with the GitHub Action exactly as a workflow step would run it:
`action/action.yml` executed step by step (examples/composite_runner.py) with the inputs
a workflow gives and the variables a runner sets; GitHub's API is a local stand-in."""

from __future__ import annotations

import hashlib
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from examples.composite_runner import ActionRun, run_composite
from examples.github_standin import GitHubStandIn
from examples.processes import DemoError

REPO_ROOT = Path(__file__).resolve().parent.parent
ACTION_DIR = REPO_ROOT / "action"
REPOSITORY = "example-org/demo-shop"
ACTION_TIMEOUT_SECONDS = 120
# The client's exit codes (action/action.yml): what each means to the workflow.
STEP_MEANING = {0: "passed, the next stage runs", 1: "FAILED (exit 1), the rollout pauses here",
                2: "FAILED (exit 2), broken config or input", 3: "FAILED (exit 3), no verdict"}


@dataclass
class GateOutcome:
    run: ActionRun
    document: dict
    summary: str
    statuses: list[dict]

    def step_result(self) -> str:
        code = self.run.exit_code
        result = STEP_MEANING.get(code, f"FAILED (exit {code})")
        if self.statuses:
            context = self.statuses[0]["body"].get("context", "status")
            states = " -> ".join(call["body"]["state"] for call in self.statuses)
            result += f"; commit status {context}: {states}"
        return result


def fake_commit_sha(version: str) -> str:
    return hashlib.sha1(f"demo-shop {version}".encode()).hexdigest()


class ActionClient:
    def __init__(self, work_dir: Path, gate_url: str, token: str, service: str, config: Path,
                 github: GitHubStandIn):
        self.work_dir = work_dir
        self.gate_url = gate_url
        self.token = token
        self.service = service
        self.config = config
        self.github = github
        work_dir.mkdir(parents=True, exist_ok=True)

    def runner_environment(self, run_dir: Path, sha: str) -> dict[str, str]:
        temp = run_dir / "runner-temp"
        temp.mkdir(parents=True, exist_ok=True)
        env = {name: value for name, value in os.environ.items()
               if not name.startswith(("GITHUB_", "RUNNER_", "INPUT_", "SYSCALL_GATE_", "GATE_"))}
        # The runner's python3 is this venv's, which has the client's requirements
        # (as after actions/setup-python + pip install): the install step then skips.
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
        env.update(
            CI="true", GITHUB_ACTIONS="true", RUNNER_OS="Linux", RUNNER_TEMP=str(temp),
            GITHUB_WORKSPACE=str(REPO_ROOT), GITHUB_REPOSITORY=REPOSITORY, GITHUB_SHA=sha,
            GITHUB_REF="refs/heads/main", GITHUB_EVENT_NAME="push", GITHUB_RUN_ID="4242",
            GITHUB_RUN_ATTEMPT="1", GITHUB_SERVER_URL="https://github.com",
            GITHUB_API_URL=self.github.url, GITHUB_ENV=str(run_dir / "env"),
            GITHUB_PATH=str(run_dir / "path"), GITHUB_STEP_SUMMARY=str(run_dir / "step-summary.md"))
        for name in ("env", "path", "step-summary.md"):
            (run_dir / name).touch()
        return env

    def gate(self, baseline_version: str, canary_version: str, stage: str) -> GateOutcome:
        if not (ACTION_DIR / "action.yml").is_file():
            raise DemoError(f"{ACTION_DIR / 'action.yml'} is missing: the GitHub Action (issue 5) has not landed")
        run_dir = self.work_dir / stage
        run_dir.mkdir(parents=True, exist_ok=True)
        sha = fake_commit_sha(canary_version)
        env = self.runner_environment(run_dir, sha)
        inputs = {
            "gate-url": self.gate_url, "token": self.token, "service": self.service,
            "baseline-version": baseline_version, "canary-version": canary_version, "stage": stage,
            "config": str(self.config.relative_to(REPO_ROOT)), "wait-timeout": "60s",
            "poll-interval": "5s", "github-token": "ghs_demo_workflow_token",
        }
        github = {"token": inputs["github-token"], "sha": sha, "repository": REPOSITORY,
                  "workspace": str(REPO_ROOT), "event_name": "push", "run_id": "4242",
                  "server_url": "https://github.com", "api_url": self.github.url}
        seen = len(self.github.calls)
        run = run_composite(ACTION_DIR, inputs, env, github, run_dir, ACTION_TIMEOUT_SECONDS)
        (run_dir / "action.log").write_text(run.log)
        document = read_report(run, run_dir)
        summary = Path(env["GITHUB_STEP_SUMMARY"]).read_text()
        return GateOutcome(run, document, summary, self.github.calls_since(seen))


def read_report(run: ActionRun, run_dir: Path) -> dict:
    """The verdict document: the `report` output names its file."""
    report_path = run.outputs.get("report", "")
    if report_path and Path(report_path).is_file():
        try:
            return json.loads(Path(report_path).read_text())
        except ValueError:
            raise DemoError(f"the Action's report {report_path} is not JSON") from None
    if run.outputs.get("verdict"):
        anomalies = json.loads(run.outputs.get("anomalies") or "[]")
        return {"verdict": run.outputs["verdict"], "score": run.outputs.get("score"),
                "url": run.outputs.get("check-url"), "anomalies": anomalies}
    raise DemoError(f"the Action gave no verdict (exit {run.exit_code}); its log: {run_dir / 'action.log'}\n"
                    + "\n".join("    | " + line for line in run.log.splitlines()[-15:]))
