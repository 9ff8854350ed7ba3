"""POST /api/v1/windows: many windows of many recordings in one request and one transaction,
against the real server on each backend. All or nothing; a replay is stored once."""

from __future__ import annotations

import uuid

import pytest

from tests.server.conftest import OTHER_SERVICE
from tests.server.test_api_ingest import new_version, put_recording, recording, version_summary, window


def post_windows(gate, windows: list, token: str = "ingest"):
    return gate.request("POST", "/api/v1/windows", token, json={"windows": windows})


def batch_window(recording_uuid: str, index: int, **extra) -> dict:
    return {**window(index, **extra), "recording_uuid": recording_uuid, "index": index}


def two_recordings(gate) -> tuple[list[str], list[str]]:
    versions, uuids = [new_version(), new_version()], [str(uuid.uuid4()), str(uuid.uuid4())]
    for version, recording_uuid in zip(versions, uuids):
        assert put_recording(gate, recording_uuid, recording(version=version)).status_code == 201
    return versions, uuids


def test_a_batch_of_two_recordings_is_stored_and_a_replay_keeps_what_was_stored(gate):
    versions, uuids = two_recordings(gate)
    batch = [batch_window(uuids[n % 2], n // 2) for n in range(6)]

    stored = post_windows(gate, batch)

    assert stored.status_code == 201, stored.text
    assert stored.json() == {"created": [True] * 6, "stored": 6, "new": 6}
    assert [version_summary(gate, version)["windows"] for version in versions] == [3, 3]
    # a replay, one window more and one changed: only the new one is stored, the old ones kept as they were
    replay = [batch_window(uuids[0], 0, syscalls=9999), batch_window(uuids[0], 3)]
    again = post_windows(gate, replay)
    assert again.status_code == 201 and again.json()["created"] == [False, True]
    assert version_summary(gate, versions[0])["syscalls"] == 4 * 1000
    assert post_windows(gate, replay).status_code == 200


@pytest.mark.parametrize("windows, status, field", [
    ([], 400, "windows"),
    (["not a window"], 400, "windows[0]"),
    ([{"index": 0}], 400, "windows[0]"),
    ("twice", 400, "windows[1]"),
    ("unknown recording", 404, "windows[1].recording_uuid"),
    ("bad count", 400, "windows[1]"),
])
def test_a_bad_batch_is_refused_with_the_window_named_and_stores_nothing(gate, windows, status, field):
    versions, uuids = two_recordings(gate)
    good = batch_window(uuids[0], 0)
    if windows == "twice":
        windows = [good, batch_window(uuids[0], 0)]
    elif windows == "unknown recording":
        windows = [good, batch_window(str(uuid.uuid4()), 0)]
    elif windows == "bad count":
        windows = [good, batch_window(uuids[1], 0, features=[["syscall", "read", -1]])]

    response = post_windows(gate, windows)

    assert response.status_code == status, response.text
    assert response.json()["field"].startswith(field), response.json()
    assert version_summary(gate, versions[0]) is None or version_summary(gate, versions[0])["windows"] == 0


def test_a_batch_touching_a_service_the_token_may_not_upload_is_refused_whole(gate):
    versions, uuids = two_recordings(gate)
    other = str(uuid.uuid4())
    assert put_recording(gate, other, recording(service=OTHER_SERVICE), token="admin").status_code == 201

    response = post_windows(gate, [batch_window(uuids[0], 0), batch_window(other, 0)])

    assert response.status_code == 403, response.text
    assert version_summary(gate, versions[0]) is None or version_summary(gate, versions[0])["windows"] == 0


def test_a_batch_past_the_window_cap_is_413(gate):
    _, uuids = two_recordings(gate)
    response = post_windows(gate, [batch_window(uuids[0], n) for n in range(1001)])
    assert response.status_code == 413 and "GATE_MAX_BATCH_WINDOWS" in response.json()["error"]
