"""The probe's settings: one typed model for `host-probe record`, `agent` and `replay`.

Each field comes from its command-line flag, else the variable HOST_PROBE_<FIELD>,
else (for the three the gate server reads too) GATE_DATABASE_URL, GATE_INGEST_TOKEN
or GATE_DATA_DIR, else its default. A secret (the database URL, the ingest token) may
instead be read from the file named by <VARIABLE>_FILE (Kubernetes and systemd mount
credentials as files). A bad value is one line naming the flag or variable it came
from. No other probe module reads `os.environ`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal, Mapping, Optional
from urllib.parse import parse_qs, urlsplit

from pydantic import BeforeValidator, Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from gate_contract.durations import seconds

ENV_PREFIX = "HOST_PROBE_"
GATE_PREFIX = "GATE_"
# Fields the gate server reads under the same variable: one value for both on a host.
GATE_VARIABLES = {"database_url": "GATE_DATABASE_URL", "ingest_token": "GATE_INGEST_TOKEN",
                  "data_dir": "GATE_DATA_DIR"}
SECRET_FIELDS = ("database_url", "ingest_token")

# Defaults `record`'s options, the agent's config file and the engine share: set once here.
WINDOW_S = 10.0    # window length
STARTUP_S = 10.0   # windows within this long of a workload's start are start-up windows
STATUS_FILE = Path("/run/syscall-gate/agent-status.json")  # what `agent` writes and `status` reads
# --file-hook: where file opens are keyed (host_probe/kernel/file_hook.py)
FILE_HOOK_AUTO, FILE_HOOK_FENTRY, FILE_HOOK_SYS_ENTER = "auto", "fentry", "sys_enter"
FILE_HOOK_CHOICES = (FILE_HOOK_AUTO, FILE_HOOK_FENTRY, FILE_HOOK_SYS_ENTER)
RECORD_DETAIL_KEYS = 16384  # `record`'s detail map capacity (the agent's is in its config file)
BATCH_WINDOWS = 100  # spooled windows of a recording sent in one request (host_probe/delivery/sender.py)


class SettingsInvalid(ValueError):
    """A setting's value cannot be used; the message names its flag or variable (exit 2)."""


def url_password(url: str) -> str:
    """The password a database URL carries, in its user part or its query; '' if none."""
    try:
        parts = urlsplit(url)
        password = parts.password or ""
    except ValueError:  # an unparseable URL: the database code says what is wrong with it
        return ""
    return password or (parse_qs(parts.query).get("password") or [""])[0]


def _seconds(value: Any) -> Any:
    return seconds(value) if isinstance(value, str) else value


def _per_second(value: Any) -> Any:
    return value.removesuffix("/s") if isinstance(value, str) else value


Seconds = Annotated[float, BeforeValidator(_seconds)]


def _globs(value: Any) -> Any:
    # a variable holds them comma-separated; the repeatable flag gives a list
    return tuple(part.strip() for part in value.split(",") if part.strip()) if isinstance(value, str) else value


class ProbeSettings(BaseSettings):
    model_config = SettingsConfigDict(frozen=True, extra="ignore")

    data_dir: Path
    database_url: str
    server: str = Field("", description="upload to this gate server instead of the database")
    # The token for uploads to a gate server: from the environment or a file, never the
    # command line, where every user could read it.
    ingest_token: str = ""
    spool: Optional[Path] = Field(None, description="where windows wait while the destination is away")
    window: Seconds = Field(WINDOW_S, gt=0)
    startup: Seconds = Field(STARTUP_S, gt=0)
    sample: int = Field(1, ge=1)
    rate_limit: Annotated[int, BeforeValidator(_per_second)] = Field(0, ge=0)
    ringbuf_pages: int = Field(64, ge=1)
    detail_keys: int = Field(RECORD_DETAIL_KEYS, ge=1)
    batch_windows: int = Field(BATCH_WINDOWS, ge=1)
    file_hook: Literal["auto", "fentry", "sys_enter"] = FILE_HOOK_AUTO
    # Sensitive files besides the judge's defaults: under fentry keyed by inode too.
    sensitive_paths: Annotated[tuple[str, ...], BeforeValidator(_globs)] = ()
    retry_unreadable: bool = False  # sys_enter: read an unreadable open's path again at its exit
    verbose: bool = False
    sudo_user: str = ""  # who ran the probe through sudo: `record -- CMD` runs CMD as them
    environment: dict[str, str] = Field(default_factory=dict, exclude=True)
    # Where each explicitly set field came from (its flag or variable), for error messages.
    origins: dict[str, str] = Field(default_factory=dict, exclude=True)

    @field_validator("ringbuf_pages")
    @classmethod
    def _power_of_two(cls, value: int) -> int:
        if value & (value - 1):
            raise ValueError(f"must be a power of two, got {value}")
        return value

    @field_validator("ingest_token", "server", mode="after")
    @classmethod
    def _stripped(cls, value: str) -> str:
        return value.strip()

    @classmethod
    def settings_customise_sources(cls, settings_cls, init_settings, **_sources):
        return (init_settings,)  # load() reads the environment itself: flags over variables

    @property
    def spool_dir(self) -> Path:
        return self.spool or self.data_dir / "spool"

    def explicit(self, *names: str) -> dict[str, Any]:
        """Those of `names` set by a flag or variable (not defaults): what wins over a config file."""
        return {name: getattr(self, name) for name in names if name in self.origins}

    @classmethod
    def load(cls, flags: Mapping[str, Any] | None = None, flag_names: Mapping[str, str] | None = None,
             environ: Mapping[str, str] | None = None) -> "ProbeSettings":
        """Settings from `flags` (field -> value; None = not given), then `environ` (default:
        the process's). SettingsInvalid names the flag or variable of the first bad value."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        origins: dict[str, str] = {}
        for name in cls.model_fields:
            if name in ("environment", "origins", "sudo_user"):
                continue
            for variable in (ENV_PREFIX + name.upper(), GATE_VARIABLES.get(name)):
                if not variable:
                    continue
                value = env.get(variable) or _secret_file(env, variable, name)
                if value:
                    values[name], origins[name] = value, variable
                    break
        for name, value in (flags or {}).items():
            if value is not None:
                values[name], origins[name] = value, (flag_names or {}).get(name, "--" + name.replace("_", "-"))
        xdg = env.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
        values.setdefault("data_dir", Path(xdg) / "syscall-gate")
        values.setdefault("database_url", f"sqlite:///{Path(values['data_dir']) / 'gate.db'}")
        sudo_user = env.get("SUDO_USER") or ""
        try:
            return cls(**values, sudo_user="" if sudo_user == "root" else sudo_user, environment=dict(env),
                       origins=origins)
        except ValidationError as exc:
            error = exc.errors(include_url=False)[0]
            name = str(error["loc"][0]) if error.get("loc") else ""
            message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
            raise SettingsInvalid(f"{origins.get(name, name)} {error.get('input')!r}: {message}") from None

    def command_environment(self, database_url: str) -> dict[str, str]:
        """The environment for a command the probe launches: the probe's, without the
        gate's and the probe's variables (GATE_*, HOST_PROBE_*) and without any other
        variable that holds one of the probe's secrets (the database password, the
        ingest token) under another name."""
        secrets = [s for s in (url_password(database_url), url_password(self.database_url), self.ingest_token) if s]
        return {name: value for name, value in self.environment.items()
                if not name.startswith((GATE_PREFIX, ENV_PREFIX)) and not any(secret in value for secret in secrets)}


def _secret_file(env: Mapping[str, str], variable: str, name: str) -> str:
    path = env.get(variable + "_FILE") if name in SECRET_FIELDS else None
    if not path:
        return ""
    try:
        return Path(path).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise SettingsInvalid(f"{variable}_FILE={path}: cannot read the file ({exc.strerror})") from None
