"""Recordings and windows uploaded by a probe over HTTP (PUT, so a replay is
harmless): validated field by field, authorised by the recording's service, and
stored by the same WindowWriter the probe uses when it writes to the database."""

from __future__ import annotations

import uuid as uuid_module
from typing import Annotated, Any, Literal, Optional

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, model_validator
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from gate_server.analysis.config_errors import from_validation_error
from gate_server.services.errors import Conflict, DomainError, Forbidden, NotFound
from gate_server.services.tokens import TokenIdentity
from gate_server.storage.models import Recording, Service
from gate_server.storage.keys import Kind
from gate_server.storage.records import RecordingInfo, WindowRecord
from gate_server.storage.writer import WindowWriter

# Whole numbers only: pydantic's lax mode would take 1.5 or "3" for a count.
Count = Annotated[int, Field(ge=0, strict=True)]
Positive = Annotated[int, Field(ge=1, strict=True)]
Name = Annotated[str, Field(min_length=1, max_length=200, strict=True)]
Drops = dict[Annotated[str, Field(max_length=50)], Count]
Key = Annotated[str, Field(min_length=1, max_length=4096, strict=True)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RecordingBody(_Body):
    uuid: Optional[str] = None  # the URL names the recording; the body may repeat it
    service: Name
    version: Name
    role: Literal["baseline", "canary"] = "baseline"
    started_at: AwareDatetime
    ended_at: Optional[AwareDatetime] = None
    host: Annotated[str, Field(max_length=255)] = ""
    kernel: Annotated[str, Field(max_length=255)] = ""
    scope: Annotated[str, Field(max_length=4096)] = ""
    sample_every: Positive = 1
    rate_limit: Optional[Positive] = None
    probe_version: Annotated[str, Field(max_length=50)] = ""
    events_seen: Count = 0
    drops: Drops = Field(default_factory=dict)

    @model_validator(mode="after")
    def _ends_after_start(self) -> "RecordingBody":
        if self.ended_at is not None and self.ended_at < self.started_at:
            raise ValueError("ended_at is before started_at")
        return self


class WindowBody(_Body):
    recording_uuid: Optional[str] = None  # both named by the URL; the body may repeat them
    index: Optional[int] = None
    started_at: AwareDatetime
    ended_at: AwareDatetime
    syscalls_total: Count = 0
    events_total: Count = 0
    sample_every: Positive = 1
    drops: Drops = Field(default_factory=dict)
    features: list[tuple[Kind, Key, Count]] = Field(default_factory=list)

    @model_validator(mode="after")
    def _consistent(self) -> "WindowBody":
        if self.ended_at < self.started_at:
            raise ValueError("ended_at is before started_at")
        seen: set[tuple[str, str]] = set()
        for kind, key, _count in self.features:
            if (kind, key) in seen:
                raise ValueError(f"feature ({kind}, {key!r}) is listed twice")
            seen.add((kind, key))
        return self


def _validated(model: type[BaseModel], body: dict[str, Any]) -> Any:
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        error = from_validation_error(exc, model)
        raise DomainError(error.message.removeprefix("config: "), field=error.field_path or None) from None


def _recording_uuid(text: str) -> str:
    try:
        return str(uuid_module.UUID(text))
    except ValueError:
        raise DomainError(f"{text!r} is not a recording uuid", field="uuid") from None


def _same(named_in_url: Any, in_body: Any, field: str) -> None:
    if in_body is not None and in_body != named_in_url:
        raise DomainError(f"{field} {in_body!r} in the body differs from {named_in_url!r} in the URL", field=field)


def _stored_recording(session: Session, recording_uuid: str) -> Optional[tuple[str, str, str]]:
    """(service, version, role) of a stored recording, or None."""
    row = session.execute(
        select(Service.name, Recording.version, Recording.role)
        .join(Recording.service).where(Recording.uuid == recording_uuid)
    ).one_or_none()
    return tuple(row) if row else None


def _authorize(identity: TokenIdentity, service: str) -> None:
    if not identity.may_access(service):
        raise Forbidden(f"this token is not allowed to upload recordings of service {service!r}", field="service")


def put_recording(engine: Engine, identity: TokenIdentity, recording_uuid: str, body: dict[str, Any]) -> bool:
    """Store the recording, or update its end and totals; True if it was new.
    A uuid already stored for another service, version or role is a conflict,
    never a rewrite."""
    recording_uuid = _recording_uuid(recording_uuid)
    parsed: RecordingBody = _validated(RecordingBody, body)
    if parsed.uuid is not None:
        _same(recording_uuid, _recording_uuid(parsed.uuid), "uuid")
    _authorize(identity, parsed.service)
    with Session(engine) as session:
        stored = _stored_recording(session, recording_uuid)
    if stored is not None and stored != (parsed.service, parsed.version, parsed.role):
        raise Conflict(f"recording {recording_uuid} is stored as {stored[0]} {stored[1]} ({stored[2]}); "
                       "a recording's service, version and role never change", field="uuid")
    info = RecordingInfo(**parsed.model_dump(exclude={"uuid"}), uuid=recording_uuid)
    WindowWriter(engine).save_recording(info)
    return stored is None


def put_window(engine: Engine, identity: TokenIdentity, recording_uuid: str, index: int,
               body: dict[str, Any]) -> bool:
    """Store one window of a stored recording; True if new, False if it was already
    stored (a replay: the stored window is kept as it is)."""
    recording_uuid = _recording_uuid(recording_uuid)
    parsed: WindowBody = _validated(WindowBody, body)
    if parsed.recording_uuid is not None:
        _same(recording_uuid, _recording_uuid(parsed.recording_uuid), "recording_uuid")
    _same(index, parsed.index, "index")
    with Session(engine) as session:
        stored = _stored_recording(session, recording_uuid)
    if stored is None:
        raise NotFound(f"recording {recording_uuid} is not stored: PUT /api/v1/recordings/{recording_uuid} first",
                       field="recording_uuid")
    _authorize(identity, stored[0])
    window = WindowRecord(
        recording_uuid=recording_uuid, index=index, started_at=parsed.started_at, ended_at=parsed.ended_at,
        syscalls_total=parsed.syscalls_total, events_total=parsed.events_total,
        sample_every=parsed.sample_every, drops=dict(parsed.drops),
        features={(kind, key): count for kind, key, count in parsed.features},
    )
    return WindowWriter(engine).write_window(window)
