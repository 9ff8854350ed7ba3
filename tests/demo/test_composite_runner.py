"""The demo runs action/action.yml the way a GitHub runner does: these pin the runner
semantics it relies on (inputs and their defaults, step outputs, env, if:, failures)."""

from __future__ import annotations

import os

import pytest

from examples.composite_runner import parse_output_file, run_composite
from examples.processes import DemoError

ACTION = """
name: probe-action
inputs:
  who: {required: true}
  token: {default: '${{ github.token }}'}
  mode: {default: quiet}
outputs:
  greeting: {value: '${{ steps.greet.outputs.greeting }}'}
  note: {value: '${{ steps.note.outputs.note }}'}
runs:
  using: composite
  steps:
    - id: greet
      shell: bash
      env:
        WHO: ${{ inputs.who }}
        TOKEN: ${{ inputs.token }}
      run: |
        echo "greeting=hello $WHO from $(basename "$GITHUB_ACTION_PATH") with ${TOKEN}" >> "$GITHUB_OUTPUT"
        { echo "note<<EOF"; echo "line 1"; echo "line 2"; echo "EOF"; } >> "$GITHUB_OUTPUT"
    - id: note
      if: inputs.mode == 'loud'
      shell: bash
      run: echo "note=LOUD" >> "$GITHUB_OUTPUT"
    - shell: bash
      run: exit ${{ inputs.mode == 'fail' && '7' || '0' }}
    - if: always()
      shell: bash
      run: echo "cleanup ran" > "$RUNNER_TEMP/cleanup"
    - shell: bash
      run: echo "after failure" > "$RUNNER_TEMP/after"
"""


@pytest.fixture
def action(tmp_path):
    action_dir = tmp_path / "my-action"
    action_dir.mkdir()
    (action_dir / "action.yml").write_text(ACTION)
    return action_dir


def run(action, tmp_path, **inputs):
    temp = tmp_path / "runner-temp"
    temp.mkdir(exist_ok=True)
    env = dict(os.environ, RUNNER_TEMP=str(temp), GITHUB_WORKSPACE=str(tmp_path))
    return run_composite(action, inputs, env, {"token": "ghs_default"}, tmp_path, timeout=30), temp


def test_inputs_defaults_and_step_outputs_reach_the_action_outputs(action, tmp_path):
    result, _ = run(action, tmp_path, who="ops")
    assert result.exit_code == 0
    assert result.outputs["greeting"] == "hello ops from my-action with ghs_default"
    assert result.outputs["note"] == ""  # the 'loud' step was skipped by its if:


def test_if_conditions_compare_inputs(action, tmp_path):
    result, _ = run(action, tmp_path, who="ops", mode="loud")
    assert result.outputs["note"] == "LOUD"


def test_a_failing_step_fails_the_action_and_skips_all_but_always_steps(action, tmp_path):
    result, temp = run(action, tmp_path, who="ops", mode="fail")
    assert result.exit_code == 7
    assert (temp / "cleanup").exists() and not (temp / "after").exists()


def test_an_unknown_input_is_refused(action, tmp_path):
    with pytest.raises(DemoError, match="no input named colour"):
        run(action, tmp_path, who="ops", colour="red")


def test_multiline_outputs_are_parsed():
    assert parse_output_file("a=1\nb<<X\nx\ny\nX\nc=d=e\n") == {"a": "1", "b": "x\ny", "c": "d=e"}
