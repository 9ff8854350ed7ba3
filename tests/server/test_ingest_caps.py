"""A window carries at most GATE_MAX_WINDOW_FEATURES features (and as many inventory
entries) and GATE_MAX_WINDOW_DROPS loss reasons: a body under the byte limit but over a
cap is a 413 naming the cap, refused before it is validated, and nothing is stored."""

from __future__ import annotations

import uuid

import pytest
import requests

from gate_server.storage import migrate
from tests.server.conftest import make_tokens
from tests.server.test_api_ingest import new_version, put_recording, put_window, recording, version_summary, window
from tests.support.live_server import LiveServer

DEFAULT_MAX_FEATURES = 100_000
DEFAULT_MAX_DROPS = 1_000


def many(count: int, kind: str = "file") -> list:
    return [[kind, f"/srv/{n}", 1] for n in range(count)]


@pytest.mark.parametrize("field, change, cap, setting", [
    ("features", {"features": many(DEFAULT_MAX_FEATURES + 1)}, DEFAULT_MAX_FEATURES, "GATE_MAX_WINDOW_FEATURES"),
    ("inventory", {"inventory": many(DEFAULT_MAX_FEATURES + 1)}, DEFAULT_MAX_FEATURES, "GATE_MAX_WINDOW_FEATURES"),
    ("drops", {"drops": {f"reason_{n}": 1 for n in range(DEFAULT_MAX_DROPS + 1)}}, DEFAULT_MAX_DROPS,
     "GATE_MAX_WINDOW_DROPS"),
])
def test_a_window_over_a_cap_is_413_naming_the_cap_and_stores_nothing(gate, field, change, cap, setting):
    version, recording_uuid = new_version(), str(uuid.uuid4())
    assert put_recording(gate, recording_uuid, recording(version=version)).status_code == 201
    body = {**window(0), **change}
    response = put_window(gate, recording_uuid, 0, body)
    assert response.status_code == 413, response.text[:500]
    assert response.json() == {
        "error": f"the window lists {cap + 1} {field} entries; this server takes at most {cap} per window "
                 f"({setting}): send the window in parts, or raise {setting}",
        "status": 413, "field": field}
    assert version_summary(gate, version)["windows"] == 0
    # the same window within the caps is stored as new: nothing of the refused one was kept
    assert put_window(gate, recording_uuid, 0, window(0)).json()["created"] is True


def test_the_caps_are_the_operators_to_set(sqlite_url):
    migrate.upgrade(sqlite_url)
    token = make_tokens(sqlite_url)["ingest"]
    headers = {"Authorization": f"Bearer {token}"}
    env = {"GATE_MAX_WINDOW_FEATURES": "4", "GATE_MAX_WINDOW_DROPS": "2"}
    with LiveServer(sqlite_url, workers=1, env=env) as server:
        recording_uuid = str(uuid.uuid4())
        base = f"{server.url}/api/v1/recordings/{recording_uuid}"
        assert requests.put(base, json=recording(version=new_version()), headers=headers, timeout=30).status_code == 201

        def upload(index: int, **change) -> requests.Response:
            return requests.put(f"{base}/windows/{index}", json={**window(index), **change}, headers=headers,
                                timeout=30)

        assert upload(0, features=many(4), drops={"map_full": 1, "rate_limited": 2}).status_code == 201
        over = upload(1, features=many(5))
        assert over.status_code == 413 and "at most 4 per window (GATE_MAX_WINDOW_FEATURES)" in over.json()["error"]
        over = upload(1, drops={"map_full": 1, "rate_limited": 2, "sampled_out": 3})
        assert over.status_code == 413 and "at most 2 per window (GATE_MAX_WINDOW_DROPS)" in over.json()["error"]
