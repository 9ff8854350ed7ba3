"""The probe's own settings, from the environment: where to write and with which
credentials. No other probe module reads `os.environ`. (The gate server has its
own settings; the probe shares only the records, keys and storage modules.)"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping
from urllib.parse import parse_qs, urlsplit

GATE_PREFIX = "GATE_"

# Defaults `record`'s options, the agent's config file and the engine share: set once here.
WINDOW_S = 10.0    # window length
STARTUP_S = 10.0   # windows within this long of a workload's start are start-up windows
STATUS_FILE = Path("/run/syscall-gate/agent-status.json")  # what `agent` writes and `status` reads
# --file-hook: where file opens are keyed (host_probe/kernel/file_hook.py)
FILE_HOOK_AUTO, FILE_HOOK_FENTRY, FILE_HOOK_SYS_ENTER = "auto", "fentry", "sys_enter"
FILE_HOOK_CHOICES = (FILE_HOOK_AUTO, FILE_HOOK_FENTRY, FILE_HOOK_SYS_ENTER)


def url_password(url: str) -> str:
    """The password a database URL carries, in its user part or its query; '' if none."""
    try:
        parts = urlsplit(url)
        password = parts.password or ""
    except ValueError:  # an unparseable URL: the database code says what is wrong with it
        return ""
    return password or (parse_qs(parts.query).get("password") or [""])[0]


@dataclass(frozen=True)
class ProbeSettings:
    data_dir: Path
    database_url: str
    # The token for uploads to a gate server (`--server`): from the environment,
    # never the command line, where every user could read it.
    ingest_token: str = ""
    sudo_user: str = ""  # who ran the probe through sudo: `record -- CMD` runs CMD as them
    environment: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "ProbeSettings":
        env = os.environ if environ is None else environ
        xdg = env.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
        data_dir = Path(env.get("GATE_DATA_DIR") or Path(xdg) / "syscall-gate")
        return cls(
            data_dir=data_dir,
            database_url=env.get("GATE_DATABASE_URL") or f"sqlite:///{data_dir / 'gate.db'}",
            ingest_token=(env.get("GATE_INGEST_TOKEN") or "").strip(),
            sudo_user=(env.get("SUDO_USER") or "") if env.get("SUDO_USER") != "root" else "",
            environment=dict(env),
        )

    def command_environment(self, database_url: str) -> dict[str, str]:
        """The environment for a command the probe launches: the probe's, without the
        gate's variables (GATE_*) and without any other variable that holds one of the
        probe's secrets (the database password, the ingest token) under another name."""
        secrets = [s for s in (url_password(database_url), url_password(self.database_url), self.ingest_token) if s]
        return {name: value for name, value in self.environment.items()
                if not name.startswith(GATE_PREFIX) and not any(secret in value for secret in secrets)}
