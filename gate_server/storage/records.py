"""Plain records the probe produces and the writer stores (JSON round-trippable,
so the probe can spool them to disk while the database is away)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Optional

ROLES = ("baseline", "canary")


@dataclass
class RecordingInfo:
    uuid: str
    service: str
    version: str
    started_at: datetime
    role: str = "baseline"
    host: str = ""
    kernel: str = ""
    scope: str = ""
    sample_every: int = 1
    rate_limit: Optional[int] = None
    probe_version: str = ""
    ended_at: Optional[datetime] = None
    events_seen: int = 0
    drops: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["started_at"] = self.started_at.isoformat()
        data["ended_at"] = self.ended_at.isoformat() if self.ended_at else None
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "RecordingInfo":
        data = dict(data)
        data["started_at"] = datetime.fromisoformat(data["started_at"])
        if data.get("ended_at"):
            data["ended_at"] = datetime.fromisoformat(data["ended_at"])
        return cls(**data)


@dataclass
class WindowRecord:
    recording_uuid: str
    index: int
    started_at: datetime
    ended_at: datetime
    syscalls_total: int = 0
    events_total: int = 0
    sample_every: int = 1
    drops: dict[str, int] = field(default_factory=dict)
    # (kind, normalised key) -> count in this window
    features: dict[tuple[str, str], int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "recording_uuid": self.recording_uuid,
            "index": self.index,
            "started_at": self.started_at.isoformat(),
            "ended_at": self.ended_at.isoformat(),
            "syscalls_total": self.syscalls_total,
            "events_total": self.events_total,
            "sample_every": self.sample_every,
            "drops": dict(self.drops),
            "features": [[kind, key, count] for (kind, key), count in self.features.items()],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "WindowRecord":
        return cls(
            recording_uuid=data["recording_uuid"],
            index=int(data["index"]),
            started_at=datetime.fromisoformat(data["started_at"]),
            ended_at=datetime.fromisoformat(data["ended_at"]),
            syscalls_total=int(data.get("syscalls_total", 0)),
            events_total=int(data.get("events_total", 0)),
            sample_every=int(data.get("sample_every", 1)),
            drops={k: int(v) for k, v in (data.get("drops") or {}).items()},
            features={(k, key): int(c) for k, key, c in data.get("features", [])},
        )
