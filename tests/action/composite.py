"""Runs the `run:` steps of a composite action.yml as the runner does (bash
--noprofile --norc -eo pipefail, cwd = the workspace, GITHUB_ACTION_PATH, each
step's env with `${{ inputs.x }}` filled in) -- the shell lines themselves under
test, in seconds rather than a whole act workflow."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import yaml

_INPUT_EXPRESSION = re.compile(r"\$\{\{\s*inputs\.([\w-]+)\s*\}\}")


def run_steps(action_yml: Path, action_path: Path, workspace: Path, env: dict[str, str],
              inputs: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess:
    """Each step in turn; the first that fails is returned, else the last."""
    action = yaml.safe_load(action_yml.read_text())
    values = {name: str(spec.get("default", "")) for name, spec in action["inputs"].items()}
    values.update(inputs)
    result = None
    for step in action["runs"]["steps"]:
        step_env = {name: _INPUT_EXPRESSION.sub(lambda m: values.get(m.group(1), ""), str(value))
                    for name, value in (step.get("env") or {}).items()}
        result = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]],
                                cwd=workspace, env={**env, "GITHUB_ACTION_PATH": str(action_path), **step_env},
                                capture_output=True, text=True, timeout=timeout)
        if result.returncode != 0:
            return result
    return result
