"""schemathesis fuzzes the real server (gunicorn) from its own OpenAPI document, on Postgres and
on SQLite, with no token and with a token of each scope the API knows: no response is a 5xx,
and every response is one the document describes (status, content type, headers, body).

Bounded for CI and reproducible: a pinned schemathesis, deterministic generation (no example
database kept between runs), at most FUZZ_EXAMPLES random cases per operation, and the coverage
phase's boundary values once, with the token that reaches every operation (3.7 minutes for the
eight runs here, with other work on the 2 cores). Every input that once gave a 500 has its own
regression test in test_api_hostile_input.py. The server and its database are the
fuzz's own: it stores recordings, checks and policy floors the other API tests must not see.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.server.conftest import make_tokens, seeded_database
from tests.support.live_server import LiveServer

FUZZ_EXAMPLES = 20
# What "breaks the document" means here: the response side. The request-side checks
# (positive_data_acceptance, negative_data_rejection) judge the schema's precision, not the server.
RESPONSE_CHECKS = ("not_a_server_error", "status_code_conformance", "content_type_conformance",
                   "response_headers_conformance", "response_schema_conformance")


@pytest.fixture(scope="module", params=["postgres", "sqlite"])
def fuzzed_gate(request, tmp_path_factory):
    database_url = seeded_database(request, tmp_path_factory, "gate_fuzz")
    tokens = make_tokens(database_url)
    with LiveServer(database_url, workers=2) as server:
        yield server, tokens


def schemathesis_run(url: str, token: str | None, phases: str, examples: int) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "schemathesis.cli", "run", f"{url}/api/v1/openapi.json",
               "--checks", ",".join(RESPONSE_CHECKS), "--phases", phases,
               "--max-examples", str(examples), "--generation-deterministic",
               "--workers", "1", "--request-timeout", "30",
               "--no-color", "--output-truncate", "false"]
    if token:
        command += ["--header", f"Authorization: Bearer {token}"]
    return subprocess.run(command, capture_output=True, text=True, timeout=600)


# An admin token reaches every operation (uploads too), so it gets the coverage phase, the
# longest: every boundary value of every parameter. "check" reads and judges one service and
# "ingest" uploads for it (403 elsewhere); without a token all but the public operations are 401.
@pytest.mark.parametrize("token_name, phases, examples", [
    ("admin", "examples,coverage,fuzzing", FUZZ_EXAMPLES),
    ("web", "examples,fuzzing", FUZZ_EXAMPLES),
    ("ingest", "examples,fuzzing", FUZZ_EXAMPLES),
    (None, "fuzzing", 5),
], ids=["admin-scope", "check-scope", "ingest-scope", "no-token"])
def test_fuzzing_finds_no_5xx_and_no_response_off_the_document(fuzzed_gate, token_name, phases, examples):
    server, tokens = fuzzed_gate
    result = schemathesis_run(server.url, tokens[token_name] if token_name else None, phases, examples)
    summary = result.stdout[result.stdout.find("FAILURES"):] if "FAILURES" in result.stdout else result.stdout[-3000:]
    assert result.returncode == 0, f"schemathesis exited {result.returncode}:\n{summary}\n{result.stderr[-2000:]}"
    assert "Test cases:" in result.stdout and " passed" in result.stdout, result.stdout[-3000:]
    assert "Traceback" not in server.log(), server.log()[-3000:]
