"""Ingest tokens scoped by role and version pattern, made with `gate-server tokens create`
and used against the real server on each backend: a canary host's token writes canary
recordings only, so a compromised canary cannot rewrite the baseline it is judged against."""

from __future__ import annotations

import uuid

import pytest

from tests.server.conftest import OTHER_SERVICE, SERVICE
from tests.server.test_api_ingest import new_version, put_recording, put_window, recording, version_summary, window
from tests.server.test_cli import gate_server


def made_token(database_url: str, *args: str) -> str:
    result = gate_server("tokens", "create", "--scope", "ingest", *args, "--db", database_url)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


@pytest.fixture(scope="module")
def role_tokens(gate) -> dict[str, str]:
    tokens = {
        "canary": made_token(gate.database_url, "--service", SERVICE, "--role", "canary", "--version", "*"),
        "canary-v4": made_token(gate.database_url, "--service", SERVICE, "--role", "canary", "--version", "v4*"),
        "canary-both": made_token(gate.database_url, "--service", SERVICE, "--service", OTHER_SERVICE,
                                  "--role", "canary", "--versions", "*"),
    }
    gate.tokens.update({f"role:{name}": secret for name, secret in tokens.items()})
    return tokens


def test_a_canary_token_uploads_canary_recordings_and_their_windows(gate, role_tokens):
    version, recording_uuid = new_version(), str(uuid.uuid4())
    assert put_recording(gate, recording_uuid, recording(version=version), token="role:canary").status_code == 201
    assert put_window(gate, recording_uuid, 0, window(0), token="role:canary").status_code == 201
    assert version_summary(gate, version)["windows"] == 1


def test_a_canary_token_may_not_upload_a_baseline_recording(gate, role_tokens):
    version = new_version()
    response = put_recording(gate, str(uuid.uuid4()), recording(version=version, role="baseline"), token="role:canary")
    assert response.status_code == 403, response.text
    assert response.json() == {
        "error": "this token uploads canary recordings only (made with --role canary), not baseline ones",
        "status": 403, "field": "role"}
    assert version_summary(gate, version) is None


def test_a_canary_token_may_not_add_windows_to_a_baseline_recording(gate, role_tokens):
    version, recording_uuid = new_version(), str(uuid.uuid4())
    baseline = recording(version=version, role="baseline")
    assert put_recording(gate, recording_uuid, baseline, token="admin").status_code == 201
    response = put_window(gate, recording_uuid, 0, window(0), token="role:canary")
    assert response.status_code == 403, response.text
    assert response.json()["error"] == (f"recording {recording_uuid} is a baseline recording of version {version!r}: "
                                        "this token uploads canary recordings only (made with --role canary)")
    assert version_summary(gate, version)["windows"] == 0


def test_a_canary_token_may_not_turn_a_baseline_recording_into_its_own(gate, role_tokens):
    version, recording_uuid = new_version(), str(uuid.uuid4())
    assert put_recording(gate, recording_uuid, recording(version=version, role="baseline"), token="admin").status_code == 201
    # the body says canary, the stored recording is the baseline: refused, and the recording stays as it was
    response = put_recording(gate, recording_uuid, recording(version=version, role="canary"), token="role:canary")
    assert response.status_code == 403, response.text
    assert version_summary(gate, version)["roles"] == ["baseline"]


def test_a_version_pattern_limits_the_versions_a_token_uploads(gate, role_tokens):
    allowed, refused = f"v4.{uuid.uuid4().hex[:6]}", f"v5.{uuid.uuid4().hex[:6]}"
    assert put_recording(gate, str(uuid.uuid4()), recording(version=allowed), token="role:canary-v4").status_code == 201
    response = put_recording(gate, str(uuid.uuid4()), recording(version=refused), token="role:canary-v4")
    assert response.status_code == 403, response.text
    assert response.json() == {
        "error": f"this token uploads versions matching 'v4*' only (made with --version 'v4*'), not {refused!r}",
        "status": 403, "field": "version"}
    assert version_summary(gate, refused) is None


def test_a_role_scoped_token_may_still_name_several_services(gate, role_tokens):
    for service in (SERVICE, OTHER_SERVICE):
        version = new_version()
        created = put_recording(gate, str(uuid.uuid4()), recording(service=service, version=version),
                                token="role:canary-both")
        assert created.status_code == 201, created.text
        baseline = put_recording(gate, str(uuid.uuid4()), recording(service=service, role="baseline"),
                                 token="role:canary-both")
        assert baseline.status_code == 403 and baseline.json()["field"] == "role"


def test_an_ingest_token_made_without_a_role_uploads_either_role(gate):
    for role in ("baseline", "canary"):
        version, recording_uuid = new_version(), str(uuid.uuid4())
        assert put_recording(gate, recording_uuid, recording(version=version, role=role)).status_code == 201
        assert put_window(gate, recording_uuid, 0, window(0)).status_code == 201


def test_tokens_list_shows_each_ingest_tokens_role_and_versions(gate, role_tokens):
    listing = gate_server("tokens", "list", "--db", gate.database_url)
    assert listing.returncode == 0, listing.stderr
    rows = {line.split()[1]: line for line in listing.stdout.splitlines()[1:]}
    assert "ROLE" in listing.stdout.splitlines()[0] and "VERSIONS" in listing.stdout.splitlines()[0]
    legacy = rows[gate.tokens["ingest"][:12]]
    assert "any role" in legacy and "any version" in legacy
    scoped = rows[role_tokens["canary-v4"][:12]]
    assert " canary " in scoped and " v4* " in scoped


@pytest.mark.parametrize("args, message", [
    (["--scope", "check", "--service", "web", "--role", "canary"], "--role and --version apply to ingest tokens only"),
    (["--scope", "admin", "--version", "v4*"], "--role and --version apply to ingest tokens only"),
    (["--scope", "ingest", "--service", "web", "--version", " "], "--version needs a pattern"),
    (["--scope", "ingest", "--service", "web", "--role", "canry"], "invalid choice: 'canry'"),
    (["--scope", "ingest", "--service", "web", "--role", "canary"],
     "a token limited to --role canary needs --version PATTERN too"),
])
def test_tokens_create_refuses_a_role_or_version_it_cannot_apply(sqlite_url, args, message):
    from gate_server.storage import migrate

    migrate.upgrade(sqlite_url)
    result = gate_server("tokens", "create", *args, "--db", sqlite_url)
    assert result.returncode == 2, result.stdout
    assert message in result.stderr and "Traceback" not in result.stderr
