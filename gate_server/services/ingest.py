"""Recordings and windows uploaded by a probe over HTTP (PUT, so a replay is
harmless): validated by the records' own models (storage/records.py), authorised by
the recording's service, and stored by the same WindowWriter the probe uses when it
writes to the database."""

from __future__ import annotations

import uuid as uuid_module
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Optional

from pydantic import BaseModel, ValidationError
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from gate_server.analysis.config_errors import from_validation_error
from gate_server.services.baselines import current_promotion
from gate_server.services.errors import Conflict, DomainError, Forbidden, NotFound, TooLarge
from gate_server.services.tokens import TokenIdentity
from gate_server.storage import bounds
from gate_server.storage import catalog as stored_catalog
from gate_contract.records import RecordingInfo, WindowRecord
from gate_contract.writer import WindowWriter


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
    return stored_catalog.recording_identity(session, recording_uuid)


def _authorize_service(identity: TokenIdentity, service: str) -> None:
    if not identity.may_access(service):
        raise Forbidden(f"this token is not allowed to upload recordings of service {service!r}", field="service")


def _authorize(identity: TokenIdentity, service: str, version: str, role: str) -> None:
    """403 unless the token may write a recording of this service, version and role."""
    _authorize_service(identity, service)
    refusal = identity.upload_refusal(version, role)
    if refusal is not None:
        field, limit = refusal
        offending = f"{role} ones" if field == "role" else repr(version)
        raise Forbidden(f"this token uploads {limit}, not {offending}", field=field)


def _authorize_stored(identity: TokenIdentity, recording_uuid: str, stored: tuple[str, str, str]) -> None:
    """403 unless the token may write to the recording as stored, whatever a body now claims."""
    service, version, role = stored
    _authorize_service(identity, service)
    refusal = identity.upload_refusal(version, role)
    if refusal is not None:
        raise Forbidden(f"recording {recording_uuid} is a {role} recording of version {version!r}: "
                        f"this token uploads {refusal[1]}", field="recording_uuid")


def _refuse_baseline_version(session: Session, identity: TokenIdentity, service: str, version: str) -> None:
    """403 when a role-limited token other than a baseline one names the baseline's version: the
    version the operator promoted, or one baseline hosts recorded. A canary host's token
    writing there is how a compromised canary would make its misbehaviour the baseline's."""
    if identity.role is None or identity.role == "baseline":
        return
    service_row = stored_catalog.service_id(session, service)
    if service_row is None:
        return
    promoted = current_promotion(session, service_row)
    recorded_as_baseline = stored_catalog.recorded_as_baseline(session, service_row, version)
    if recorded_as_baseline or (promoted is not None and promoted.version == version):
        why = "promoted as the baseline" if not recorded_as_baseline else "recorded by baseline hosts"
        raise Forbidden(f"version {version!r} of {service!r} is {why}: a {identity.role} token may not write "
                        "under the baseline's version", field="version")


def put_recording(engine: Engine, identity: TokenIdentity, recording_uuid: str, body: dict[str, Any]) -> bool:
    """Store the recording, or update its end; True if it was new. A uuid already
    stored for another service, version or role is a conflict, never a rewrite."""
    recording_uuid = _recording_uuid(recording_uuid)
    if body.get("uuid") is not None:  # the URL names the recording; the body may repeat it
        _same(recording_uuid, _recording_uuid(str(body["uuid"])), "uuid")
    info: RecordingInfo = _validated(RecordingInfo, {**body, "uuid": recording_uuid})
    _authorize(identity, info.service, info.version, info.role)
    with Session(engine) as session:
        stored = _stored_recording(session, recording_uuid)
        if stored is None:
            _refuse_baseline_version(session, identity, info.service, info.version)
    if stored is not None:
        _authorize_stored(identity, recording_uuid, stored)
    if stored is not None and stored != (info.service, info.version, info.role):
        raise Conflict(f"recording {recording_uuid} is stored as {stored[0]} {stored[1]} ({stored[2]}); "
                       "a recording's service, version and role never change", field="uuid")
    WindowWriter(engine).save_recording(info)
    return stored is None


# A window that claims to end this far after its receipt comes from a clock that is wrong.
MAX_CLOCK_SKEW = timedelta(minutes=5)


@dataclass(frozen=True)
class WindowCaps:
    """Entries one window may list (GATE_MAX_WINDOW_FEATURES, GATE_MAX_WINDOW_DROPS), and how
    long before its receipt it may have begun (GATE_INGEST_MAX_WINDOW_AGE_HOURS)."""

    features: int
    drops: int
    max_age: timedelta = timedelta(hours=24)
    # Steady windows kept per (service, version, host) (GATE_MAX_STEADY_WINDOWS_PER_HOST; 0: all).
    steady_windows: int = 0


def _near_receipt(window: WindowRecord, caps: WindowCaps, received: datetime) -> None:
    """400 for a window whose times are far from its receipt: the uploader's clock is not
    trusted to place a window before the canary began (a backdated window would vouch for
    it). The age allowed is a spool's outage; older windows are refused, not stored."""
    hours = caps.max_age.total_seconds() / 3600
    if window.started_at < received - caps.max_age:
        raise DomainError(f"the window began at {window.started_at.isoformat()}, more than {hours:g} h before the "
                          f"server received it ({received.isoformat(timespec='seconds')}): windows older than "
                          "GATE_INGEST_MAX_WINDOW_AGE_HOURS are refused", field="started_at")
    if window.ended_at > received + MAX_CLOCK_SKEW:
        raise DomainError(f"the window ends at {window.ended_at.isoformat()}, after the server received it "
                          f"({received.isoformat(timespec='seconds')}): check the probe host's clock",
                          field="ended_at")


def _within_caps(body: dict[str, Any], caps: WindowCaps) -> None:
    """413 for a window listing more entries than the caps, counted in the parsed JSON before
    the model builds an object of any of them (or the writer a row)."""
    for field, cap, setting in (("features", caps.features, "GATE_MAX_WINDOW_FEATURES"),
                                ("inventory", caps.features, "GATE_MAX_WINDOW_FEATURES"),
                                ("drops", caps.drops, "GATE_MAX_WINDOW_DROPS")):
        entries = body.get(field)
        if isinstance(entries, (list, dict)) and len(entries) > cap:
            raise TooLarge(f"the window lists {len(entries)} {field} entries; this server takes at most {cap} "
                           f"per window ({setting}): send the window in parts, or raise {setting}", field=field)


def put_window(engine: Engine, identity: TokenIdentity, recording_uuid: str, index: int,
               body: dict[str, Any], caps: WindowCaps) -> bool:
    """Store one window of a stored recording; True if new, False if it was already
    stored (a replay: the stored window is kept as it is)."""
    _within_caps(body, caps)
    recording_uuid = _recording_uuid(recording_uuid)
    # both named by the URL; the body may repeat them
    if body.get("recording_uuid") is not None:
        _same(recording_uuid, _recording_uuid(str(body["recording_uuid"])), "recording_uuid")
    _same(index, body.get("index"), "index")
    window: WindowRecord = _validated(WindowRecord, {**body, "recording_uuid": recording_uuid, "index": index})
    received = datetime.now(timezone.utc)
    _near_receipt(window, caps, received)
    with Session(engine) as session:
        stored = _stored_recording(session, recording_uuid)
    if stored is None:
        raise NotFound(f"recording {recording_uuid} is not stored: PUT /api/v1/recordings/{recording_uuid} first",
                       field="recording_uuid")
    _authorize_stored(identity, recording_uuid, stored)
    created = WindowWriter(engine).write_window(window, received_at=received)
    _bound_steady_windows(engine, {recording_uuid}, caps)
    return created


def _batch_entries(body: dict[str, Any], max_windows: int) -> list[Any]:
    entries = body.get("windows")
    unknown = sorted(set(body) - {"windows"})
    if unknown:
        raise DomainError(f"unknown field {unknown[0]!r}: a batch is {{\"windows\": [...]}}", field=unknown[0])
    if not isinstance(entries, list) or not entries:
        raise DomainError("windows must be a non-empty list of windows", field="windows")
    if len(entries) > max_windows:
        raise TooLarge(f"the batch holds {len(entries)} windows; this server takes at most {max_windows} per "
                       "request (GATE_MAX_BATCH_WINDOWS): send it in parts", field="windows")
    return entries


def _batch_window(entry: Any, position: int, caps: WindowCaps, received: datetime) -> WindowRecord:
    if not isinstance(entry, dict):
        raise DomainError(f"windows[{position}] must be an object", field=f"windows[{position}]")
    try:
        _within_caps(entry, caps)
        window = _validated(WindowRecord, entry)
        _near_receipt(window, caps, received)
        return window
    except DomainError as exc:
        field = f"windows[{position}]" + (f".{exc.field}" if exc.field else "")
        raise type(exc)(f"windows[{position}]: {exc.message}", field=field) from None


def put_windows(engine: Engine, identity: TokenIdentity, body: dict[str, Any], caps: WindowCaps,
                max_windows: int) -> list[bool]:
    """Store a batch of windows of stored recordings (any number of recordings, e.g. every
    workload of a host's drain) in one transaction; for each, True if new, False if already
    stored. All or nothing: one window refused refuses the batch, and nothing of it is stored."""
    received = datetime.now(timezone.utc)
    windows = [_batch_window(entry, n, caps, received) for n, entry in enumerate(_batch_entries(body, max_windows))]
    named = [(window.recording_uuid, window.index) for window in windows]
    if len(set(named)) != len(named):
        position = next(n for n, key in enumerate(named) if named.index(key) != n)
        raise DomainError(f"windows[{position}] repeats window {named[position][1]} of recording "
                          f"{named[position][0]}", field=f"windows[{position}]")
    with Session(engine) as session:
        stored = stored_catalog.recording_identities(session, (uuid for uuid, _ in named))
    for position, window in enumerate(windows):
        if window.recording_uuid not in stored:
            raise NotFound(f"windows[{position}]: recording {window.recording_uuid} is not stored: "
                           f"PUT /api/v1/recordings/{window.recording_uuid} first",
                           field=f"windows[{position}].recording_uuid")
        _authorize_stored(identity, window.recording_uuid, stored[window.recording_uuid])
    created = WindowWriter(engine).write_windows(windows, received_at=received)
    _bound_steady_windows(engine, set(stored), caps)
    return created


def _bound_steady_windows(engine: Engine, recording_uuids: set[str], caps: WindowCaps) -> None:
    """Thin the hosts' steady windows of these recordings' versions to the bound (storage/bounds.py)."""
    if caps.steady_windows > 0:
        with Session(engine) as session, session.begin():
            bounds.enforce_steady_bound(session, recording_uuids, caps.steady_windows)
