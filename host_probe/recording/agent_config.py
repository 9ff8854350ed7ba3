"""The agent's config file (`host-probe agent --config /etc/syscall-gate/agent.yml`):
which discovery sources run, and the engine's sizes. Validated with pydantic;
errors name the field. The destination is not in it: `--db`, `--server` or
GATE_DATABASE_URL, as for `host-probe record`.

    workloads:                    # the static source
      - service: web
        version: v41
        role: baseline
        cgroup: /sys/fs/cgroup/system.slice/web.service
    containers: {}                # Docker's labels (docs/discovery.md)
    kubernetes:                   # the node's pods (docs/discovery.md)
      node_name: n1
      namespaces: {shop: [checkout]}
    window: 10s
    max_workloads: 64
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

from gate_contract.durations import seconds
from host_probe.discovery.containers import ContainerOptions
from host_probe.discovery.kubernetes import KubernetesOptions
from host_probe.discovery.static import StaticWorkload
from host_probe.kernel.loader import MAX_WORKLOADS_LIMIT
from host_probe.settings import STARTUP_S, STATUS_FILE, WINDOW_S



Seconds = Annotated[float, BeforeValidator(lambda value: seconds(value) if isinstance(value, str) else value)]


class ConfigInvalid(ValueError):
    """The config file cannot be used; the message names the file and field."""


class AgentConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    workloads: list[StaticWorkload] = Field(default_factory=list)
    containers: Optional[ContainerOptions] = Field(None, description="the container runtime source (Docker)")
    kubernetes: Optional[KubernetesOptions] = Field(None, description="the node's pods")
    window: Seconds = Field(WINDOW_S, gt=0, description="window length")
    startup: Seconds = Field(STARTUP_S, gt=0, description="windows within this long of a workload's start are "
                                                       "start-up windows")
    poll_interval: Seconds = Field(0.5, gt=0, description="how often discovery sources are asked (the "
                                   "kubernetes source: its own poll_interval_seconds, default 5 s)")
    max_workloads: int = Field(64, ge=1, le=MAX_WORKLOADS_LIMIT,
                               description="workloads watched at once; one more is refused with a log line")
    detail_keys: int = Field(65536, ge=64, description="capacity of each kernel detail map, all workloads together")
    detail_keys_per_workload: int = Field(8192, ge=16, description="detail keys one workload may hold per window")
    spool_dir: Optional[Path] = None
    status_file: Path = STATUS_FILE
    metrics_address: str = Field("", description="host:port for Prometheus metrics (empty: none)")

    @model_validator(mode="after")
    def _names_unique(self) -> "AgentConfig":
        keys = [entry.key for entry in self.workloads]
        duplicated = sorted({key for key in keys if keys.count(key) > 1})
        if duplicated:
            raise ValueError(f"workload names must be unique (give `name:`), repeated: {', '.join(duplicated)}")
        if self.metrics_address and not self.metrics_address.rpartition(":")[2].isdigit():
            raise ValueError(f"metrics_address {self.metrics_address!r} must be host:port")
        return self


def load_agent_config(path: Path, node_name: str = "", overrides: dict | None = None) -> AgentConfig:
    """`node_name` (`--node-name`, which a DaemonSet fills from the downward API) is
    the kubernetes source's node when its section names none. `overrides` (the probe's
    settings set by a flag or variable: host_probe/settings.py) win over the file."""
    try:
        data = yaml.safe_load(Path(path).read_text()) or {}
    except OSError as exc:
        raise ConfigInvalid(f"{path}: cannot read the config file ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        raise ConfigInvalid(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise ConfigInvalid(f"{path}: must be a mapping of settings")
    if node_name and isinstance(data.get("kubernetes"), dict):
        data["kubernetes"].setdefault("node_name", node_name)
    data.update(overrides or {})
    try:
        return AgentConfig.model_validate(data)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(part) for part in first["loc"]) or "config"
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise ConfigInvalid(f"{path}: {where}: {first['msg']}{more}") from None
