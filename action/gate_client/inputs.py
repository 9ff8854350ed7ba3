"""Everything the client takes from its environment, read once.

The composite action passes its inputs as SYSCALL_GATE_* variables; the runner
provides GITHUB_* and RUNNER_* ones. No other module reads os.environ.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Optional
from urllib.parse import quote

from .rollout import FAIL_ON

DEFAULT_CONFIG_PATH = ".github/syscall-gate.yml"
FAIL_ON_CHOICES = FAIL_ON  # the copy of the contract's rollout meaning
ON_GATE_ERROR_CHOICES = ("fail", "pass")
ON_PAUSE_CHOICES = ("fail", "wait")
MODE_CHOICES = ("enforce", "report")
BOOLEANS = {"true": True, "false": False}
# A copy of gate_contract/durations.py's `seconds` (the Action runs without the
# repository); tests/action/test_durations.py keeps the two equal.
UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_PATTERN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?\s*$")


def seconds(text: str, *, unit_required: bool = False, allow_zero: bool = False) -> float:
    match = _PATTERN.match(text or "")
    if not match or (unit_required and not match.group(2)):
        raise ValueError(f"invalid duration {text!r}: use a number and a unit ms, s, m, h, d or w (e.g. 30s, 7d)")
    amount = float(match.group(1)) * UNIT_SECONDS[match.group(2) or "s"]
    if amount <= 0 and not (allow_zero and amount == 0):
        raise ValueError(f"invalid duration {text!r}: must be greater than zero")
    return amount


def duration_text(amount: float) -> str:
    """900.0 -> '15m': a duration as a user would write it."""
    for unit in ("w", "d", "h", "m", "s"):
        if amount >= UNIT_SECONDS[unit] and amount % UNIT_SECONDS[unit] == 0:
            return f"{amount / UNIT_SECONDS[unit]:g}{unit}"
    return f"{amount:g}s"


class InputError(ValueError):
    """An input the user gave cannot be used; the message names the input."""


def parse_duration(name: str, text: str, allow_zero: bool = False) -> float:
    """Seconds from '90', '90s', '15m', '1h' or '500ms'."""
    try:
        return seconds(text, allow_zero=allow_zero)
    except ValueError:
        raise InputError(f"input '{name}' must be a duration like 90s, 15m or 1h, got {text!r}") from None


@dataclass(frozen=True)
class ActionInputs:
    gate_url: str
    token: str
    service: str
    baseline_version: str
    canary_version: str
    stage: str
    config_path: str
    wait_timeout: float
    poll_interval: float
    fail_on: str
    on_gate_error: str
    github_token: str
    deployment_id: str
    environment: str
    on_pause: str = "fail"
    decision_timeout: float = 1800.0
    mode: str = "enforce"
    promote_on_success: bool = False
    final_stage: bool = False
    promote_token: str = ""
    oidc_audience: str = "syscall-gate"

    @property
    def report_only(self) -> bool:
        return self.mode == "report"

    @property
    def config_is_default(self) -> bool:
        return self.config_path == DEFAULT_CONFIG_PATH

    @property
    def status_context(self) -> str:
        return f"syscall-gate/{self.stage}" if self.stage else "syscall-gate"


@dataclass(frozen=True)
class RunnerContext:
    workspace: Path
    temp_dir: Path
    output_path: Optional[Path]
    summary_path: Optional[Path]
    api_url: str
    server_url: str
    repository: str
    sha: str
    event_name: str
    event_path: Optional[Path]
    run_id: str
    run_attempt: str = "1"

    @property
    def run_url(self) -> str:
        if not (self.repository and self.run_id):
            return ""
        return f"{self.server_url}/{self.repository}/actions/runs/{self.run_id}"

    def idempotency_key(self, service: str, stage: str) -> str:
        """One key per gate step of a run attempt, repeated by its retries and polls; a re-run
        (a new attempt) gets a new one. The service is part of it: a matrix of services may
        gate the same stage in one run. Empty outside GitHub Actions (no run id)."""
        if not self.run_id:
            return ""
        return ":".join(quote(part, safe="") for part in (self.run_id, self.run_attempt or "1", service, stage))

    def commit_under_test(self) -> str:
        """For a pull request, its head commit -- GITHUB_SHA is then a synthetic merge commit."""
        if self.event_name.startswith("pull_request") and self.event_path and self.event_path.is_file():
            try:
                event = json.loads(self.event_path.read_text(encoding="utf-8"))
                head_sha = event["pull_request"]["head"]["sha"]
                if head_sha:
                    return str(head_sha)
            except (OSError, ValueError, KeyError, TypeError):
                pass
        return self.sha


def _optional_path(value: str) -> Optional[Path]:
    return Path(value) if value else None


def _choice(name: str, text: str, choices: tuple[str, ...]) -> str:
    value = text.lower()
    if value not in choices:
        raise InputError(f"input '{name}' must be one of {', '.join(choices)}, got {text!r}")
    return value


def _boolean(name: str, text: str) -> bool:
    if text.lower() not in BOOLEANS:
        raise InputError(f"input '{name}' must be true or false, got {text!r}")
    return BOOLEANS[text.lower()]


def read_inputs(env: Mapping[str, str] = os.environ) -> ActionInputs:
    def get(name: str, default: str = "") -> str:
        return (env.get(f"SYSCALL_GATE_{name}") or default).strip()

    def required(name: str, input_name: str) -> str:
        value = get(name)
        if not value:
            raise InputError(f"input '{input_name}' is required")
        return value

    fail_on = _choice("fail-on", get("FAIL_ON", "pause"), FAIL_ON_CHOICES)
    on_gate_error = _choice("on-gate-error", get("ON_GATE_ERROR", "fail"), ON_GATE_ERROR_CHOICES)
    gate_url = required("GATE_URL", "gate-url").rstrip("/")
    if not re.match(r"^https?://", gate_url):
        raise InputError(f"input 'gate-url' must be an http(s) URL, got {gate_url!r}")
    poll_interval = parse_duration("poll-interval", get("POLL_INTERVAL", "30s"))
    if poll_interval <= 0:
        raise InputError("input 'poll-interval' must be greater than zero")
    deployment_id = get("DEPLOYMENT_ID")
    if deployment_id and not deployment_id.isdigit():
        raise InputError(f"input 'deployment-id' must be a number, got {deployment_id!r}")
    # Empty: the job's GitHub OIDC token is asked for instead (run.py, oidc_token.py).
    token = get("TOKEN")
    return ActionInputs(
        gate_url=gate_url,
        token=token,
        service=required("SERVICE", "service"),
        baseline_version=required("BASELINE_VERSION", "baseline-version"),
        canary_version=get("CANARY_VERSION") or env.get("GITHUB_SHA", ""),
        stage=get("STAGE"),
        config_path=get("CONFIG", DEFAULT_CONFIG_PATH),
        wait_timeout=parse_duration("wait-timeout", get("WAIT_TIMEOUT", "15m"), allow_zero=True),
        poll_interval=poll_interval,
        fail_on=fail_on,
        on_gate_error=on_gate_error,
        github_token=get("GITHUB_TOKEN"),
        deployment_id=deployment_id,
        environment=get("ENVIRONMENT"),
        on_pause=_choice("on-pause", get("ON_PAUSE", "fail"), ON_PAUSE_CHOICES),
        decision_timeout=parse_duration("decision-timeout", get("DECISION_TIMEOUT", "30m")),
        mode=_choice("mode", get("MODE", "enforce"), MODE_CHOICES),
        promote_on_success=_boolean("promote-on-success", get("PROMOTE_ON_SUCCESS", "false")),
        final_stage=_boolean("final-stage", get("FINAL_STAGE", "false")),
        promote_token=get("PROMOTE_TOKEN") or token,
        oidc_audience=get("OIDC_AUDIENCE", "syscall-gate"),
    )


def read_runner_context(env: Mapping[str, str] = os.environ) -> RunnerContext:
    workspace = Path(env.get("GITHUB_WORKSPACE") or os.getcwd())
    return RunnerContext(
        workspace=workspace,
        temp_dir=Path(env.get("RUNNER_TEMP") or workspace),
        output_path=_optional_path(env.get("GITHUB_OUTPUT", "")),
        summary_path=_optional_path(env.get("GITHUB_STEP_SUMMARY", "")),
        api_url=(env.get("GITHUB_API_URL") or "https://api.github.com").rstrip("/"),
        server_url=(env.get("GITHUB_SERVER_URL") or "https://github.com").rstrip("/"),
        repository=env.get("GITHUB_REPOSITORY", ""),
        sha=env.get("GITHUB_SHA", ""),
        event_name=env.get("GITHUB_EVENT_NAME", ""),
        event_path=_optional_path(env.get("GITHUB_EVENT_PATH", "")),
        run_id=env.get("GITHUB_RUN_ID", ""),
        run_attempt=env.get("GITHUB_RUN_ATTEMPT", "") or "1",
    )


def secrets_to_mask(env: Mapping[str, str] = os.environ) -> list[str]:
    """The secrets to mask before anything else is printed."""
    names = ("SYSCALL_GATE_TOKEN", "SYSCALL_GATE_GITHUB_TOKEN", "SYSCALL_GATE_PROMOTE_TOKEN")
    return [env[name].strip() for name in names if (env.get(name) or "").strip()]
