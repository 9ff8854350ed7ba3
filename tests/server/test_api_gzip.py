"""Request bodies sent with Content-Encoding: gzip (the probe's uploads), through
the real server: taken as if sent plain on the ingest routes, after the token was
verified; inflated at most up to GATE_MAX_INGEST_BYTES, so a zip bomb gets a clear
413 and no worker inflates gigabytes. (tests/security/test_edges.py: no other route
takes gzip, and no anonymous caller gets anything inflated.)"""

from __future__ import annotations

import gzip
import json
import uuid

from tests.server.test_api_ingest import new_version, recording, version_summary, window

CAP = 32 << 20  # GATE_MAX_INGEST_BYTES's default


def put_gzipped(gate, path: str, body: bytes, encoding: str = "gzip"):
    return gate.request("PUT", path, "ingest", data=body,
                        headers={"Content-Type": "application/json", "Content-Encoding": encoding})


def test_a_gzipped_upload_is_stored_like_a_plain_one(gate):
    version, recording_uuid = new_version(), str(uuid.uuid4())
    path = f"/api/v1/recordings/{recording_uuid}"
    assert put_gzipped(gate, path, gzip.compress(json.dumps(recording(version=version)).encode())).status_code == 201
    response = put_gzipped(gate, f"{path}/windows/0", gzip.compress(json.dumps(window(0)).encode()))
    assert response.status_code == 201, response.text
    assert version_summary(gate, version)["windows"] == 1


def test_a_zip_bomb_gets_413_and_the_server_stays_up(gate):
    bomb = gzip.compress(b" " * (CAP + 1), compresslevel=9)  # about 32 KiB that inflate past the cap
    assert len(bomb) < 100_000
    response = put_gzipped(gate, f"/api/v1/recordings/{uuid.uuid4()}", bomb)
    assert response.status_code == 413
    assert response.json() == {"status": 413, "error": (
        f"the decompressed request body is larger than the server inflates ({CAP} bytes: GATE_MAX_INGEST_BYTES)")}
    assert gate.request("GET", "/healthz", None).status_code == 200


def test_a_body_that_is_not_gzip_gets_400(gate):
    response = put_gzipped(gate, f"/api/v1/recordings/{uuid.uuid4()}", b'{"not": "gzip"}')
    assert response.status_code == 400
    assert response.json()["error"] == "the request body is not valid gzip"
    cut = gzip.compress(json.dumps(recording()).encode())[:-12]
    response = put_gzipped(gate, f"/api/v1/recordings/{uuid.uuid4()}", cut)
    assert response.status_code == 400
    assert response.json()["error"] == "the gzip request body is cut short"


def test_another_content_encoding_gets_415(gate):
    response = put_gzipped(gate, f"/api/v1/recordings/{uuid.uuid4()}", b"\x00", encoding="br")
    assert response.status_code == 415
    assert "Content-Encoding 'br' is not supported" in response.json()["error"]
