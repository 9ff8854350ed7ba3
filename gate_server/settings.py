"""One settings object for the server, the CLI and the probe's database side.

No other module reads `os.environ`: they take a `Settings`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping


def default_data_dir(environ: Mapping[str, str]) -> Path:
    xdg = environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(xdg) / "syscall-gate"


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    database_url: str
    # Largest request body the API accepts (a check carries its config inline).
    max_request_bytes: int = 1 << 20
    # Largest upload a probe may send (one window: up to two detail maps of keys).
    max_ingest_bytes: int = 32 << 20
    # Entries one uploaded window may list, checked before it is validated: 32 MiB of short
    # keys would otherwise be over a million features, each a row and several objects.
    # 100 000 is well above what one workload's window holds with the probe's defaults
    # (two detail maps of 16 384 keys for `record`, 8 192 keys per workload for the agent).
    max_window_features: int = 100_000
    max_window_drops: int = 1_000
    # Windows one batch upload (POST /api/v1/windows) may carry: an agent's drain of 64
    # workloads, or a spool replayed in a few requests, within max_ingest_bytes.
    max_batch_windows: int = 1_000
    secret_key: str = ""
    public_url: str = ""
    webhook_urls: tuple[str, ...] = field(default_factory=tuple)
    webhook_on_warn: bool = False
    # Set by `gate-server serve`: gunicorn workers share Prometheus metrics through files here.
    metrics_multiproc_dir: str = ""
    # Window counts each server worker keeps in memory (0 = no windows): repeat checks
    # of a version read its windows once (see storage.profiles.ProfileCache).
    profile_cache_counts: int = 1_000_000
    # The probe's token for uploads to a gate server (`host-probe record --server`):
    # from the environment, never the command line, where every user could read it.
    ingest_token: str = ""
    # How long an Idempotency-Key names its check: repeats within it update that check
    # (a gate step's retries and polls last at most its wait-timeout), later it is free.
    idempotency_hours: int = 24
    # The GitHub App deployment protection rule (gate_server/github_app): its config file
    # (unset: no /github/webhook), and the credentials when the file names no files for them.
    github_app_config: str = ""
    github_app_private_key: str = ""
    github_webhook_secret: str = ""

    @property
    def is_embedded(self) -> bool:
        return self.database_url.startswith("sqlite")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides) -> "Settings":
        env = os.environ if environ is None else environ
        data_dir = Path(env.get("GATE_DATA_DIR") or default_data_dir(env))
        url = env.get("GATE_DATABASE_URL") or f"sqlite:///{data_dir / 'gate.db'}"
        webhooks = tuple(u for u in (env.get("GATE_WEBHOOK_URLS") or "").split(",") if u.strip())
        values = dict(
            data_dir=data_dir,
            database_url=url,
            max_request_bytes=int(env.get("GATE_MAX_REQUEST_BYTES") or (1 << 20)),
            max_ingest_bytes=int(env.get("GATE_MAX_INGEST_BYTES") or (32 << 20)),
            max_window_features=int(env.get("GATE_MAX_WINDOW_FEATURES") or 100_000),
            max_window_drops=int(env.get("GATE_MAX_WINDOW_DROPS") or 1_000),
            max_batch_windows=int(env.get("GATE_MAX_BATCH_WINDOWS") or 1_000),
            secret_key=env.get("GATE_SECRET_KEY") or "",
            public_url=(env.get("GATE_PUBLIC_URL") or "").rstrip("/"),
            webhook_urls=tuple(u.strip() for u in webhooks),
            webhook_on_warn=(env.get("GATE_WEBHOOK_ON_WARN") or "").lower() in ("1", "true", "yes"),
            metrics_multiproc_dir=env.get("PROMETHEUS_MULTIPROC_DIR") or "",
            profile_cache_counts=int(env.get("GATE_PROFILE_CACHE_COUNTS") or 1_000_000),
            ingest_token=(env.get("GATE_INGEST_TOKEN") or "").strip(),
            idempotency_hours=int(env.get("GATE_IDEMPOTENCY_HOURS") or 24),
            github_app_config=(env.get("GATE_GITHUB_APP_CONFIG") or "").strip(),
            github_app_private_key=env.get("GATE_GITHUB_APP_PRIVATE_KEY") or "",
            github_webhook_secret=(env.get("GATE_GITHUB_WEBHOOK_SECRET") or "").strip(),
        )
        values.update(overrides)
        return cls(**values)
