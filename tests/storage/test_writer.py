"""The window writer stores each window once, batched, on both backends."""

import uuid
from datetime import datetime, timedelta, timezone

import pytest
from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gate_contract.models import Feature, Recording, Window, decode_window_counts
from gate_contract.records import RecordingInfo, WindowRecord
from gate_contract.writer import MAX_KEY_LENGTH, WindowWriter

T0 = datetime(2026, 11, 24, 12, 0, tzinfo=timezone.utc)


def recording(**overrides) -> RecordingInfo:
    values = dict(uuid=str(uuid.uuid4()), service="web", version="v1", started_at=T0,
                  host="h1", kernel="6.1", scope="pid:1")
    values.update(overrides)
    return RecordingInfo(**values)


def window(rec: RecordingInfo, index: int, features: dict) -> WindowRecord:
    start = T0 + timedelta(seconds=10 * index)
    return WindowRecord(recording_uuid=rec.uuid, index=index, started_at=start,
                        ended_at=start + timedelta(seconds=10), syscalls_total=sum(features.values()),
                        features=features, drops={"map_full": 1})


def count(engine, model) -> int:
    with Session(engine) as s:
        return s.execute(select(func.count()).select_from(model)).scalar_one()


def stored_counts(engine) -> list[dict[int, int]]:
    """{feature id: count} of every stored window, in index order: the one record of its counts."""
    with Session(engine) as s:
        documents = s.execute(select(Window.counts).order_by(Window.recording_id, Window.index)).scalars().all()
    return [dict(zip(*decode_window_counts(document))) for document in documents]


def test_same_window_twice_is_stored_once(engine):
    writer = WindowWriter(engine)
    rec = recording()
    writer.save_recording(rec)
    w = window(rec, 0, {("syscall", "read"): 10, ("file", "/etc/hosts:r"): 2})
    assert writer.write_window(w) is True
    assert writer.write_window(w) is False
    assert count(engine, Window) == 1
    assert sorted(stored_counts(engine)[0].values()) == [2, 10]


def test_a_window_without_features_is_stored(engine):
    # An idle workload's window: the schemathesis fuzz found it a 500 once (an empty executemany)
    writer = WindowWriter(engine)
    rec = recording()
    writer.save_recording(rec)
    assert writer.write_window(window(rec, 0, {})) is True
    assert stored_counts(engine) == [{}]


def test_counts_document_holds_every_count_and_survives_a_replay(engine):
    writer = WindowWriter(engine)
    rec = recording()
    writer.save_recording(rec)
    long_path = "/x" * 2000  # two keys that clip to the same stored key are one feature, counts summed
    w = window(rec, 0, {("syscall", "read"): 10, ("file", long_path): 2, ("file", long_path + "y"): 3})
    assert writer.write_window(w) is True
    assert writer.write_window(w) is False
    with Session(engine) as s:
        names = dict(s.execute(select(Feature.id, Feature.key)).all())
    (stored,) = stored_counts(engine)
    assert {names[fid]: n for fid, n in stored.items()} == {"read": 10, long_path[:MAX_KEY_LENGTH - 3] + "...": 5}


def test_saving_a_recording_twice_updates_not_duplicates(engine):
    writer = WindowWriter(engine)
    rec = recording()
    first = writer.save_recording(rec)
    rec.ended_at = T0 + timedelta(minutes=1)
    assert writer.save_recording(rec) == first
    with Session(engine) as s:
        stored = s.execute(select(Recording)).scalar_one()
        assert stored.ended_at is not None


def test_feature_strings_are_stored_once_across_windows(engine):
    writer = WindowWriter(engine)
    rec = recording()
    writer.save_recording(rec)
    for index in range(3):
        writer.write_window(window(rec, index, {("syscall", "read"): index + 1, ("exec", "/bin/ls"): 1}))
    assert count(engine, Feature) == 2
    assert [sorted(counts.values()) for counts in stored_counts(engine)] == [[1, 1], [1, 2], [1, 3]]


def test_large_window_is_written_in_batches(engine):
    writer = WindowWriter(engine)
    rec = recording()
    writer.save_recording(rec)
    features = {("file", f"/srv/data/{i}:r"): i + 1 for i in range(5000)}
    assert writer.write_window(window(rec, 0, features))
    (stored,) = stored_counts(engine)
    assert len(stored) == 5000 and sum(stored.values()) == sum(features.values())


def test_overlong_keys_are_clipped_not_refused(engine):
    writer = WindowWriter(engine)
    rec = recording()
    writer.save_recording(rec)
    assert writer.write_window(window(rec, 0, {("file", "/x" * 2000): 1}))
    with Session(engine) as s:
        key = s.execute(select(Feature.key)).scalar_one()
    assert len(key) == MAX_KEY_LENGTH and key.endswith("...")


def test_window_of_unknown_recording_is_an_error(engine):
    writer = WindowWriter(engine)
    with pytest.raises(LookupError):
        writer.write_window(window(recording(), 0, {("syscall", "read"): 1}))


def test_records_round_trip_through_json():
    import json

    rec = recording(ended_at=T0 + timedelta(seconds=5))
    assert RecordingInfo.from_dict(json.loads(json.dumps(rec.to_dict()))) == rec
    w = window(rec, 2, {("connect", "inet:127.0.0.1:5432"): 4})
    assert WindowRecord.from_dict(json.loads(json.dumps(w.to_dict()))) == w


def test_a_spooled_recording_of_an_older_probe_still_replays():
    # before migration 0003 the probe also sent its totals; nothing stores them now
    spooled = {**recording().to_dict(), "events_seen": 12, "drops": {"map_full": 1}}
    assert RecordingInfo.from_dict(spooled) == RecordingInfo.from_dict(recording(uuid=spooled["uuid"]).to_dict())


@pytest.mark.parametrize("change, field", [
    ({"syscalls_total": 2**63}, "syscalls_total"),
    ({"index": 2**31}, "index"),
    ({"index": 1.0}, "index"),
    ({"drops": {"map_full": -1}}, "drops"),
    ({"features": {("file", "/etc/\x00:r"): 1}}, "features"),
    ({"recording_uuid": "not-a-uuid"}, "recording_uuid"),
])
def test_a_window_out_of_its_columns_bounds_is_refused_before_the_database(change, field):
    rec = recording()
    values = {**dict(window(rec, 0, {("syscall", "read"): 1})), **change}
    with pytest.raises(ValidationError) as refused:
        WindowRecord(**values)
    assert refused.value.errors()[0]["loc"][0] == field


def test_loaded_profile_has_the_written_counts(engine):
    from gate_server.storage.profiles import load_profile

    writer = WindowWriter(engine)
    rec = recording(version="v7", role="canary")
    writer.save_recording(rec)
    writer.write_window(window(rec, 0, {("syscall", "read"): 5, ("exec", "/bin/sh"): 1}))
    writer.write_window(window(rec, 1, {("syscall", "read"): 7}))
    with Session(engine) as s:
        profile = load_profile(s, "web", "v7")
        assert load_profile(s, "web", "v7", role="baseline").windows == []
    assert [w.counts for w in profile.windows] == [
        {("syscall", "read"): 5, ("exec", "/bin/sh"): 1},
        {("syscall", "read"): 7},
    ]
    assert profile.syscalls_total == 13
    assert profile.lost_total == 2


def test_counts_of_keys_clipped_to_one_are_summed_within_a_bigint(engine):
    # two keys that differ only past the column's length are one feature; their counts,
    # each a valid BIGINT, must not add up past one (a 500 on both backends before)
    writer = WindowWriter(engine)
    rec = recording()
    writer.save_recording(rec)
    stem = "/srv/" + "d" * MAX_KEY_LENGTH
    biggest = 2**63 - 1
    clipped_alike = {("file", stem + "a:r"): biggest, ("file", stem + "b:r"): 5}
    assert writer.write_window(WindowRecord(recording_uuid=rec.uuid, index=0, started_at=T0,
                                            ended_at=T0 + timedelta(seconds=10), features=clipped_alike))
    assert list(stored_counts(engine)[0].values()) == [biggest]
