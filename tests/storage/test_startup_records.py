"""A window says whether it covers a start-up and what the processes already held
when the recording attached: in its record (JSON like `features`), in the database on
both backends, and in the profile the judge reads."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from pydantic import ValidationError
from sqlalchemy.orm import Session

from gate_server.storage.profiles import load_profile
from gate_contract.records import RecordingInfo, WindowRecord
from gate_contract.writer import WindowWriter

T0 = datetime(2026, 11, 26, 12, 0, tzinfo=timezone.utc)
HELD = {("listen", "inet:127.0.0.1:8080"): 1, ("bind", "inet:127.0.0.1:8080"): 1,
        ("file", "/etc/app.yml:r"): 1, ("file", "/var/log/app.log:w"): 2}


def recording() -> RecordingInfo:
    return RecordingInfo(uuid=str(uuid.uuid4()), service="web", version="v1", started_at=T0)


def window(rec: RecordingInfo, index: int, **fields) -> WindowRecord:
    start = T0 + timedelta(seconds=10 * index)
    return WindowRecord(recording_uuid=rec.uuid, index=index, started_at=start, ended_at=start + timedelta(seconds=10),
                        syscalls_total=10, features={("syscall", "read"): 10}, **fields)


def test_a_window_is_not_a_start_up_and_holds_no_inventory_unless_it_says_so():
    plain = window(recording(), 0)
    assert plain.startup is False and plain.inventory == {}


def test_inventory_travels_as_kind_key_count_triples_like_features():
    w = window(recording(), 0, startup=True, inventory=HELD)
    document = w.to_dict()
    assert document["startup"] is True
    assert sorted(map(tuple, document["inventory"])) == sorted((kind, key, n) for (kind, key), n in HELD.items())
    assert WindowRecord.from_dict(json.loads(json.dumps(document))) == w


def test_a_window_spooled_before_the_fields_existed_still_loads():
    document = window(recording(), 3).to_dict()
    del document["startup"], document["inventory"]
    loaded = WindowRecord.from_dict(document)
    assert (loaded.startup, loaded.inventory) == (False, {})


@pytest.mark.parametrize("change", [
    {"startup": "yes"},
    {"startup": 1},
    {"inventory": [["listen", "inet:127.0.0.1:8080", 1], ["listen", "inet:127.0.0.1:8080", 1]]},
    {"inventory": [["nonsense", "x", 1]]},
    {"inventory": [["file", "/etc/\x00:r", 1]]},
    {"inventory": [["file", "/etc/app.yml:r", -1]]},
])
def test_a_malformed_start_up_flag_or_inventory_is_refused(change):
    values = {**window(recording(), 0).to_dict(), **change}
    with pytest.raises(ValidationError) as refused:
        WindowRecord.from_dict(values)
    assert refused.value.errors()[0]["loc"][0] == next(iter(change))


def stored_profile(engine, *fields_per_window: dict):
    """web v1 as the judge reads it, after one window per `fields` went through the real writer."""
    writer = WindowWriter(engine)
    rec = recording()
    writer.save_recording(rec)
    for index, fields in enumerate(fields_per_window):
        writer.write_window(window(rec, index, **fields))
    with Session(engine) as session:
        return load_profile(session, "web", "v1")


def test_start_up_flag_and_inventory_are_stored_and_read_back(engine):
    profile = stored_profile(engine, {"inventory": HELD}, {"startup": True}, {})
    assert [w.startup for w in profile.windows] == [False, True, False]
    assert [w.inventory for w in profile.windows] == [frozenset(HELD), frozenset(), frozenset()]
    # the inventory says "held", it is no count of the window
    assert all(w.counts == {("syscall", "read"): 10} for w in profile.windows)


def test_a_held_feature_is_not_an_event_count_of_its_window(engine):
    from sqlalchemy import select

    from gate_contract.models import Window, decode_window_counts

    writer = WindowWriter(engine)
    rec = recording()
    writer.save_recording(rec)
    writer.write_window(window(rec, 0, inventory=HELD))
    with Session(engine) as session:
        (document,) = session.execute(select(Window.counts)).scalars().all()
    assert len(decode_window_counts(document)[0]) == 1


def _recording_at(writer, version: str, start: datetime, windows: list[dict], role: str = "baseline") -> None:
    rec = RecordingInfo(uuid=str(uuid.uuid4()), service="web", version=version, started_at=start, role=role)
    writer.save_recording(rec)
    for index, fields in enumerate(windows):
        begin = start + timedelta(seconds=10 * index)
        writer.write_window(WindowRecord(recording_uuid=rec.uuid, index=index, started_at=begin,
                                         ended_at=begin + timedelta(seconds=10), syscalls_total=10, **fields))


def test_the_start_up_reference_is_every_earlier_start_up_and_inventory_of_either_version(engine):
    from gate_server.storage.profiles import load_startup_reference

    writer = WindowWriter(engine)
    listen = {("listen", "inet:127.0.0.1:8080"): 1}
    weeks_ago, now = T0 - timedelta(days=40), T0
    _recording_at(writer, "v1", weeks_ago, [{"startup": True, "features": listen}, {"features": {("syscall", "read"): 9}}])
    _recording_at(writer, "v2", weeks_ago, [{"inventory": HELD}], role="canary")
    _recording_at(writer, "v3", weeks_ago, [{"startup": True, "features": {("exec", "/bin/sh"): 1}}])
    _recording_at(writer, "v2", now, [{"startup": True, "features": {("file", "/etc/shadow:r"): 1}}], role="canary")
    with Session(engine) as session:
        reference = load_startup_reference(session, "web", ["v1", "v2"], before=now)
        nothing = load_startup_reference(session, "web", ["v1"], before=weeks_ago)
    assert [(w.startup, w.counts, w.inventory) for w in reference.windows] == [
        (True, listen, frozenset()), (False, {}, frozenset(HELD))]
    assert nothing.windows == []
