"""docs/action.md and the repository's own threshold config stay true to the action."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "action.md").read_text()
ACTION = yaml.safe_load((ROOT / "action" / "action.yml").read_text())


def yaml_blocks() -> list:
    return [yaml.safe_load(block) for block in re.findall(r"```yaml\n(.*?)```", DOC, re.S)]


def gate_steps(node) -> list[dict]:
    found = []
    if isinstance(node, dict):
        if str(node.get("uses", "")).startswith("./action"):
            found.append(node)
        for value in node.values():
            found += gate_steps(value)
    elif isinstance(node, list):
        for item in node:
            found += gate_steps(item)
    return found


def test_every_input_and_output_is_documented():
    for name in ACTION["inputs"]:
        assert f"| `{name}` |" in DOC, f"input {name} missing from docs/action.md"
    for name in ACTION["outputs"]:
        assert f"| `{name}` |" in DOC, f"output {name} missing from docs/action.md"


def test_documented_workflows_use_only_real_inputs_and_give_the_required_ones():
    steps = [step for block in yaml_blocks() for step in gate_steps(block)]
    assert len(steps) >= 3
    required = {name for name, spec in ACTION["inputs"].items() if spec.get("required")}
    for step in steps:
        given = set(step.get("with", {}))
        assert given <= set(ACTION["inputs"]), given - set(ACTION["inputs"])
        assert required <= given, required - given


def test_the_staged_rollout_example_pauses_by_job_dependencies():
    rollout = next(block for block in yaml_blocks() if isinstance(block, dict) and "jobs" in block)
    jobs = rollout["jobs"]
    assert jobs["deploy-50"]["needs"] == "deploy-5"
    assert "deploy-50" in jobs["deploy-100"]["needs"]
    assert rollout["permissions"]["statuses"] == "write"


def test_documented_exit_codes_are_the_clients(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "action"))
    from gate_client import decision

    for code in (decision.EXIT_PROCEED, decision.EXIT_BREACH, decision.EXIT_USAGE, decision.EXIT_GATE_ERROR):
        assert re.search(rf"^\| {code} \| ", DOC, re.M), f"exit code {code} undocumented"


def test_the_example_threshold_config_passes_the_actions_own_validation(monkeypatch):
    # examples/syscall-gate.yml is what users copy to .github/syscall-gate.yml.
    monkeypatch.syspath_prepend(str(ROOT / "action"))
    from gate_client.config import load_config

    loaded = load_config(ROOT / "examples" / "syscall-gate.yml")
    assert loaded.found and loaded.problems == []
    assert loaded.data["limits"]["max_new_execs"] == 0
