"""One settings object for the server, the CLI and the probe's database side.

No other module reads `os.environ`: they take a `Settings`. pydantic-settings reads the
`GATE_*` variables, so a bad value is a typed error naming the variable (never a
traceback), booleans take `on`/`yes`/`1`/`true`, and every secret may come from a file
named by `<VARIABLE>_FILE` (Kubernetes and systemd credentials mount secrets as files).
"""

from __future__ import annotations

import os
import re
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Mapping

from pydantic import BeforeValidator, Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, EnvSettingsSource, NoDecode, PydanticBaseSettingsSource, SettingsConfigDict

from gate_contract.durations import parse_duration

ENV_PREFIX = "GATE_"
# Variables whose value may instead be read from the file `<VARIABLE>_FILE` names.
SECRET_FIELDS = ("database_url", "secret_key", "ingest_token", "github_app_private_key", "github_webhook_secret")

_SIZE = re.compile(r"^\s*(\d+)\s*([kmg]i?b?)?\s*$", re.IGNORECASE)
_SIZE_UNITS = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}


class SettingsError(ValueError):
    """The environment holds a value the server cannot use: one sentence per variable."""


def parse_byte_size(value: Any) -> Any:
    """`1048576`, `1m`, `1MiB`, `512k`: binary units, as nginx's client_max_body_size reads them."""
    if not isinstance(value, str):
        return value
    match = _SIZE.match(value)
    if not match:
        raise ValueError("expected a byte count such as 1048576, 512k or 1m")
    unit = (match.group(2) or "")[:1].lower()
    return int(match.group(1)) * _SIZE_UNITS.get(unit, 1)


ByteSize = Annotated[int, BeforeValidator(parse_byte_size), Field(ge=1)]


def _duration(value: Any) -> Any:
    """`1d`, `12h`, `30m`: the project's one duration syntax (storage.durations)."""
    return parse_duration(value) if isinstance(value, str) else value


Duration = Annotated[timedelta, BeforeValidator(_duration)]


def default_data_dir(environ: Mapping[str, str]) -> Path:
    xdg = environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(xdg) / "syscall-gate"


class MappingEnvSource(EnvSettingsSource):
    """pydantic-settings' environment source over a given mapping (tests pass their own),
    with `<VARIABLE>_FILE` read for the secret fields when `<VARIABLE>` itself is unset."""

    def __init__(self, settings_cls, environ: Mapping[str, str]):
        self._environ = environ
        super().__init__(settings_cls, env_prefix=ENV_PREFIX, case_sensitive=False, env_ignore_empty=True)

    # The one hook pydantic-settings gives for where variables come from (it reads os.environ
    # there); overriding it keeps the source's parsing, prefixes and aliases as they are.
    def _load_env_vars(self) -> Mapping[str, str | None]:
        variables = {name: value for name, value in self._environ.items() if value != ""}
        for field_name in SECRET_FIELDS:
            name = ENV_PREFIX + field_name.upper()
            path = variables.get(f"{name}_FILE")
            if name in variables or not path:
                continue
            try:
                variables[name] = Path(path).read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise SettingsError(f"{name}_FILE={path}: cannot read the file ({exc.strerror})") from None
        return {name.lower(): value for name, value in variables.items()}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(frozen=True, env_prefix=ENV_PREFIX, case_sensitive=False, extra="ignore")

    data_dir: Path
    database_url: str
    # Where `gate-server serve` listens unless --bind says otherwise: loopback, behind a proxy.
    bind: str = "127.0.0.1:8080"
    # Largest request body the API accepts (a check carries its config inline).
    max_request_bytes: ByteSize = 1 << 20
    # Largest upload a probe may send (one window: up to two detail maps of keys).
    max_ingest_bytes: ByteSize = 32 << 20
    # Entries one uploaded window may list, checked before it is validated: 32 MiB of short
    # keys would otherwise be over a million features, each a row and several objects.
    # 100 000 is well above what one workload's window holds with the probe's defaults
    # (two detail maps of 16 384 keys for `record`, 8 192 keys per workload for the agent).
    max_window_features: int = Field(100_000, ge=1)
    max_window_drops: int = Field(1_000, ge=1)
    # Windows one batch upload (POST /api/v1/windows) may carry: an agent's drain of 64
    # workloads, or a spool replayed in a few requests, within max_ingest_bytes.
    max_batch_windows: int = Field(1_000, ge=1)
    # Steady windows kept per (service, version, host): a sample spread over the whole run,
    # enforced at ingest (storage/bounds.py; docs/operations.md says why 120). 0: keep all.
    max_steady_windows_per_host: int = Field(120, ge=0)
    secret_key: str = ""
    public_url: str = ""
    webhook_urls: Annotated[tuple[str, ...], NoDecode] = ()
    webhook_on_warn: bool = False
    # Set by `gate-server serve`: gunicorn workers share Prometheus metrics through files here.
    metrics_multiproc_dir: str = Field("", validation_alias="PROMETHEUS_MULTIPROC_DIR")
    # Window counts each server worker keeps in memory (0 = no windows): repeat checks
    # of a version read its windows once (see storage.profiles.ProfileCache).
    profile_cache_counts: int = Field(1_000_000, ge=0)
    # The probe's token for uploads to a gate server (`host-probe record --server`):
    # from the environment, never the command line, where every user could read it.
    ingest_token: str = ""
    # How long an Idempotency-Key names its check: repeats within it update that check
    # (a gate step's retries and polls last at most its wait-timeout), later it is free.
    idempotency_hours: int = Field(24, ge=0)  # 0: a key never names an earlier check
    # A window uploaded over HTTP may have begun at most this long before the server received
    # it (a spool's outage); older ones are refused, so an uploader cannot backdate one.
    ingest_max_window_age_hours: float = Field(24.0, gt=0)
    # Suppressions: literal keys only unless globs are allowed; a short default expiry and a maximum.
    suppression_globs: bool = False
    suppression_default_expiry: Duration = timedelta(days=1)
    suppression_max_expiry: Duration = timedelta(days=30)
    # The GitHub App deployment protection rule (gate_server/github_app): its config file
    # (unset: no /github/webhook), and the credentials when the file names no files for them.
    github_app_config: str = ""
    github_app_private_key: str = ""
    github_webhook_secret: str = ""
    # The job queue (gate_server/jobs): runner threads per server worker, how often an idle
    # one looks for work, and how long a taken job stays leased without a heartbeat --
    # the time after which a dead server's job is taken again.
    job_threads: int = Field(2, ge=0)
    job_poll_seconds: float = Field(1.0, gt=0)
    job_lease_seconds: float = Field(30.0, gt=0)
    # GitHub Actions' OIDC tokens in place of a long-lived check token (gate_server/services/oidc.py):
    # the issuer whose JWKS signs them (unset: not accepted), the audience they must name, and
    # which repository may check which services ("owner/repo=web,api;owner/other=billing").
    oidc_issuer: str = ""
    oidc_audience: str = "syscall-gate"
    oidc_repositories: Annotated[dict[str, tuple[str, ...]], NoDecode] = Field(default_factory=dict)

    @field_validator("webhook_urls", mode="before")
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(url.strip() for url in value.split(",") if url.strip())
        return value

    @field_validator("oidc_repositories", mode="before")
    @classmethod
    def _repository_services(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        mapping: dict[str, tuple[str, ...]] = {}
        for entry in filter(None, (part.strip() for part in value.split(";"))):
            repository, equals, services = entry.partition("=")
            names = tuple(name.strip() for name in services.split(",") if name.strip())
            if not equals or "/" not in repository or not names:
                raise ValueError(f"{entry!r} is not owner/repo=service[,service...]")
            mapping[repository.strip()] = names
        return mapping

    @field_validator("public_url", "oidc_issuer", mode="after")
    @classmethod
    def _no_trailing_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @field_validator("ingest_token", "github_app_config", "github_webhook_secret", mode="after")
    @classmethod
    def _stripped(cls, value: str) -> str:
        return value.strip()

    @property
    def is_embedded(self) -> bool:
        return self.database_url.startswith("sqlite")

    @classmethod
    def settings_customise_sources(cls, settings_cls, init_settings: PydanticBaseSettingsSource, **_sources):
        # from_env passes the environment as init values through its own source: only those.
        return (init_settings,)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides) -> "Settings":
        """Settings from `environ` (default: the process's), `overrides` winning; SettingsError if a value is unusable."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = MappingEnvSource(cls, env)()
        values.setdefault("data_dir", env.get("GATE_DATA_DIR") or default_data_dir(env))
        if env.get("PROMETHEUS_MULTIPROC_DIR"):
            values["PROMETHEUS_MULTIPROC_DIR"] = env["PROMETHEUS_MULTIPROC_DIR"]
        values.update(overrides)
        if "metrics_multiproc_dir" in values:
            values["PROMETHEUS_MULTIPROC_DIR"] = values.pop("metrics_multiproc_dir")
        values.setdefault("database_url", f"sqlite:///{Path(values['data_dir']) / 'gate.db'}")
        try:
            return cls(**values)
        except ValidationError as exc:
            raise SettingsError("; ".join(_describe(error) for error in exc.errors())) from None


def _describe(error: Mapping[str, Any]) -> str:
    field_name = str(error["loc"][0]) if error.get("loc") else ""
    variable = field_name if field_name.isupper() else ENV_PREFIX + field_name.upper()
    value = error.get("input")
    message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
    return f"{variable}={value!r} is not valid: {message}"
