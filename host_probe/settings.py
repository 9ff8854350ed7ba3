"""The probe's own settings, from the environment: where to write and with which
credentials. No other probe module reads `os.environ`. (The gate server has its
own settings; the probe shares only the records, keys and storage modules.)"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping


@dataclass(frozen=True)
class ProbeSettings:
    data_dir: Path
    database_url: str
    # The token for uploads to a gate server (`--server`): from the environment,
    # never the command line, where every user could read it.
    ingest_token: str = ""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "ProbeSettings":
        env = os.environ if environ is None else environ
        xdg = env.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
        data_dir = Path(env.get("GATE_DATA_DIR") or Path(xdg) / "syscall-gate")
        return cls(
            data_dir=data_dir,
            database_url=env.get("GATE_DATABASE_URL") or f"sqlite:///{data_dir / 'gate.db'}",
            ingest_token=(env.get("GATE_INGEST_TOKEN") or "").strip(),
        )
