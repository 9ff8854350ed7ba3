"""The threshold config is checked on the runner before anything is sent, with an
annotation on the offending line; the token never reaches the log."""

from __future__ import annotations

import pytest

from tests.action.profiles import BASELINE, HEALTHY_CANARY
from tests.support.ports import free_port

CONFIG = ".github/syscall-gate.yml"


def offline_inputs(**extra: str) -> dict:
    # Nothing listens here: a config error must stop the step before the gate is called.
    return {"gate_url": f"http://127.0.0.1:{free_port()}", "token": "sg_unused", "baseline_version": BASELINE,
            "canary_version": HEALTHY_CANARY, "stage": "5%", **extra}


@pytest.mark.parametrize("config_text, line, message", [
    ("thresholds:\n  pause_score: 60\n  warn_scor: 90\n", 3,
     "unknown setting 'thresholds.warn_scor'; did you mean 'warn_score'?"),
    ("limits:\n  max_new_execs: 0\n  max_new_destinations: -1\n", 3,
     "limits.max_new_destinations: -1 is less than the minimum of 0"),
    ("allow:\n  execs:\n    - /usr/bin/git\n    - 42\n", 4, "allow.execs[1]: 42 is not of type 'string'"),
    ("sufficiency:\n  min_windows: [5\n", 3, "invalid YAML"),
    ("- thresholds\n", 1, "the config must be a mapping of settings, not a list"),
])
def test_broken_config_fails_the_step_with_an_annotation_on_its_line(action_runner, fake_github, config_text,
                                                                     line, message):
    run = action_runner.run(config_text=config_text, **offline_inputs())

    assert run.returncode == 2, run.log
    annotation = next(l for l in run.stdout.splitlines() if l.startswith(f"::error file={CONFIG},"))
    assert annotation.startswith(f"::error file={CONFIG},line={line},")
    assert message in annotation
    assert "unreachable" not in run.log, "a broken config must not be sent to the gate"
    assert run.outputs["verdict"] == "error"
    assert fake_github.statuses("commit")[-1].body["state"] == "error"


def test_every_schema_error_is_reported_not_only_the_first(action_runner):
    config = "thresholds:\n  pause_scor: 60\nweights:\n  exec: 500\n"
    run = action_runner.run(config_text=config, **offline_inputs())
    errors = [l for l in run.stdout.splitlines() if l.startswith(f"::error file={CONFIG},")]
    assert [e.split(",")[1] for e in errors] == ["line=2", "line=4"]


def test_missing_default_config_uses_the_gates_defaults_and_says_so(gate, action_runner):
    run = action_runner.run(gate_url=gate.url, token=gate.token, baseline_version=BASELINE,
                            canary_version=HEALTHY_CANARY)
    assert run.returncode == 0, run.log
    assert f"::notice title=syscall-gate::no threshold config at {CONFIG}; the gate applies its default thresholds" in run.stdout
    assert run.report()["thresholds"]["thresholds"]["pause_score"] == 60


def test_a_config_path_set_explicitly_must_exist(action_runner):
    run = action_runner.run(**offline_inputs(config="deploy/gate.yml"))
    assert run.returncode == 2, run.log
    assert "::error file=deploy/gate.yml,title=syscall-gate config::the threshold config 'deploy/gate.yml' (input 'config') does not exist" in run.stdout


def test_a_bad_input_is_a_usage_error_naming_the_input(action_runner):
    run = action_runner.run(**offline_inputs(fail_on="sometimes"))
    assert run.returncode == 2
    assert "::error title=syscall-gate::input 'fail-on' must be one of pause, warn, got 'sometimes'" in run.stdout


def test_the_gate_token_is_masked_before_anything_is_printed(gate, action_runner):
    run = action_runner.run(gate_url=gate.url, token=gate.token, baseline_version=BASELINE,
                            canary_version=HEALTHY_CANARY, wait_timeout="bogus")  # fails after masking
    assert run.stdout.splitlines()[0] == f"::add-mask::{gate.token}"
    assert run.returncode == 2

    run = action_runner.run(gate_url=gate.url, token=gate.token, baseline_version=BASELINE,
                            canary_version=HEALTHY_CANARY)
    assert run.returncode == 0, run.log
    assert run.stdout.splitlines()[0] == f"::add-mask::{gate.token}"
    rest = "\n".join(run.stdout.splitlines()[2:]) + run.stderr + run.summary + str(run.outputs)
    rest += open(run.outputs["report"]).read()
    assert gate.token not in rest
