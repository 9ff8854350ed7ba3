"""A window says when its workload's oldest process started (`workload_started_at`,
migration 0015): stored through the real writer on both backends (on Postgres into a
monthly partition), read back with the window as its age; a window of a probe that did
not say, or spooled before the field, still loads, without an age."""

from __future__ import annotations

from datetime import timedelta, timezone

from gate_contract.records import WindowRecord
from tests.storage.test_startup_records import T0, recording, stored_profile, window

STARTED = T0 - timedelta(minutes=5)


def utc(moment):
    return moment.replace(tzinfo=timezone.utc) if moment is not None and moment.tzinfo is None else moment

RESTARTED = T0 + timedelta(seconds=12)


def test_the_workload_s_start_is_stored_and_read_back_as_each_window_s_age(engine):
    profile = stored_profile(engine, {"workload_started_at": STARTED}, {"workload_started_at": RESTARTED}, {})
    # as every stored time: in UTC, its zone dropped by SQLite
    assert [utc(w.workload_started_at) for w in profile.windows] == [STARTED, RESTARTED, None]
    # 300 s old at the first window's end (T0 + 10 s) + 10; restarted 12 s in: 8 s old at 20 s
    assert [w.age_s for w in profile.windows] == [310.0, 8.0, None]


def test_a_window_spooled_before_the_field_existed_still_loads_without_an_age():
    document = window(recording(), 2, workload_started_at=STARTED).to_dict()
    assert document["workload_started_at"] is not None
    del document["workload_started_at"]
    assert WindowRecord.from_dict(document).workload_started_at is None
