"""The receiver's configuration file (GATE_GITHUB_APP_CONFIG, YAML): the App's
identity and credentials, and which environment of which repository is which
service, stage and versions. Its form is documented in docs/action.md."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from gate_server.settings import Settings
from gate_contract.durations import seconds

# What a version template may name, from the webhook's deployment.
TEMPLATE_FIELDS = ("sha", "ref", "run_id", "environment")


class GitHubAppConfigError(ValueError):
    """The receiver's config cannot be used; the message names the file and the field."""


def _duration(value: Any) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    try:
        return seconds(str(value), allow_zero=True)
    except ValueError as exc:
        raise ValueError(str(exc)) from None


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EnvironmentRule(Strict):
    """One protected environment of one repository, and the check that guards it."""

    repository: str = Field(pattern=r"^[^/\s]+/[^/\s]+$", description="owner/name")
    environment: str = Field(min_length=1)
    service: str = Field(min_length=1)
    stage: str = ""
    baseline_version: str = Field(min_length=1, description="a version, or 'current' (the promoted baseline)")
    canary_version: str = Field(default="{sha}", min_length=1,
                                description="a version or a template of " + ", ".join(TEMPLATE_FIELDS))
    # The repository's thresholds for this gate (the same form as .github/syscall-gate.yml).
    thresholds: Optional[dict[str, Any]] = None
    # 'pause' rejects on a pause verdict only; 'warn' rejects on warn too.
    fail_on: str = Field(default="pause", pattern=r"^(pause|warn)$")
    wait_timeout: float = 900.0
    poll_interval: float = 30.0
    # 'wait': a check that would be rejected waits up to decision_timeout for a person to
    # approve or reject it on the dashboard (or `gate-server checks decide`); 'reject' does not wait.
    on_pause: str = Field(default="reject", pattern=r"^(reject|wait)$")
    decision_timeout: float = 1800.0

    @field_validator("wait_timeout", "poll_interval", "decision_timeout", mode="before")
    @classmethod
    def _seconds(cls, value: Any) -> float:
        return _duration(value)

    @field_validator("canary_version")
    @classmethod
    def _known_fields(cls, template: str) -> str:
        try:
            template.format(**{name: "" for name in TEMPLATE_FIELDS})
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(f"a template may name only {{{'}, {'.join(TEMPLATE_FIELDS)}}}: {exc}") from None
        return template


class AppFile(Strict):
    app_id: str = Field(min_length=1, description="the App's client ID or numeric App ID (the JWT's iss)")
    api_url: str = Field(default="https://api.github.com", pattern=r"^https?://")
    private_key_file: Optional[Path] = None
    webhook_secret_file: Optional[Path] = None
    environments: list[EnvironmentRule] = Field(min_length=1)

    @field_validator("app_id", mode="before")
    @classmethod
    def _as_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) else value


@dataclass(frozen=True)
class GitHubAppConfig:
    app_id: str
    api_url: str
    private_key: str
    webhook_secret: bytes
    environments: tuple[EnvironmentRule, ...]

    def rule_for(self, repository: str, environment: str) -> Optional[EnvironmentRule]:
        # GitHub treats owner/name without regard to case.
        for rule in self.environments:
            if rule.repository.lower() == repository.lower() and rule.environment == environment:
                return rule
        return None


def _secret(path: Optional[Path], from_env: str, what: str, setting: str, env_name: str, config_path: Path) -> str:
    if path is not None:
        try:
            return path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise GitHubAppConfigError(f"{config_path}: {setting}: cannot read {path} ({exc.strerror})") from None
    if from_env:
        return from_env
    raise GitHubAppConfigError(f"{config_path}: no {what}: set {setting} in the file or {env_name} in the environment")


def load_github_app_config(settings: Settings) -> GitHubAppConfig:
    """Read and validate the file GATE_GITHUB_APP_CONFIG names, with its credentials."""
    path = Path(settings.github_app_config)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise GitHubAppConfigError(f"{path}: cannot read the GitHub App config ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        raise GitHubAppConfigError(f"{path}: not valid YAML: {exc}") from None
    try:
        parsed = AppFile.model_validate(data or {})
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "the file"
        raise GitHubAppConfigError(f"{path}: {where}: {first['msg']}") from None
    private_key = _secret(parsed.private_key_file, settings.github_app_private_key, "App private key",
                          "private_key_file", "GATE_GITHUB_APP_PRIVATE_KEY", path)
    webhook_secret = _secret(parsed.webhook_secret_file, settings.github_webhook_secret, "webhook secret",
                             "webhook_secret_file", "GATE_GITHUB_WEBHOOK_SECRET", path)
    return GitHubAppConfig(app_id=parsed.app_id, api_url=parsed.api_url.rstrip("/"), private_key=private_key,
                           webhook_secret=webhook_secret.encode(), environments=tuple(parsed.environments))
