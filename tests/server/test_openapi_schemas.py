"""The OpenAPI document's request and response schemas are the models' own: every
request body a view reads is parsed by a pydantic model whose JSON schema the document
carries unchanged, the verdict is CheckedVerdict's, every other answer's is its model's
in api/response_bodies.py, and the real server's answers match them."""

from __future__ import annotations

import ast
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import quote

import jsonschema
import pytest
import requests

import gate_server.api
from gate_server.api.check_body import CheckBody
from gate_server.api.openapi import REF_TEMPLATE, document
from gate_server.api.request_bodies import SCHEMA_NAMES
from gate_server.api.response_bodies import RESPONSE_MODELS
from gate_server.services.checks import CheckedVerdict
from gate_contract.records import RecordingInfo, WindowRecord
from tests.server.conftest import SERVICE, make_tokens, seeded_database
from tests.support.live_server import LiveServer

# The bodies whose schema the document adjusts: fields the URL names, the config's own model.
ADJUSTED = {"CheckRequest": CheckBody, "RecordingUpload": RecordingInfo, "WindowUpload": WindowRecord}


def _model_schema(model, mode: str = "validation") -> dict:
    schema = model.model_json_schema(mode=mode, ref_template=REF_TEMPLATE)
    schema.pop("$defs", None)
    return schema


def _request_schemas(served: dict) -> dict[str, str]:
    """{"POST /path": schema name} for every operation that takes a body."""
    return {f"{method.upper()} {path}": operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
            .rsplit("/", 1)[1]
            for path, operations in served["paths"].items() for method, operation in operations.items()
            if "requestBody" in operation}


def test_every_request_body_is_described_by_the_model_that_parses_it():
    served = document()
    bodies = _request_schemas(served)
    assert bodies, "the walk must find the request bodies"
    schemas = served["components"]["schemas"]
    for operation, name in bodies.items():
        if name == "WindowBatch":  # a list of windows, each the window model's own schema
            assert schemas[name]["properties"]["windows"]["items"] == {"$ref": REF_TEMPLATE.format(model="BatchWindow")}
            assert schemas["BatchWindow"] == _model_schema(WindowRecord), operation
            continue
        assert name in SCHEMA_NAMES or name in ADJUSTED, f"{operation}: {name} is written by hand"
    for name, model in SCHEMA_NAMES.items():
        assert schemas[name] == _model_schema(model), name
    for name, model in ADJUSTED.items():
        assert set(schemas[name]["properties"]) == set(_model_schema(model)["properties"]), name


@pytest.mark.parametrize("name", sorted(SCHEMA_NAMES))
def test_a_body_the_document_requires_fields_of_is_one_the_model_reads(name):
    schema = _model_schema(SCHEMA_NAMES[name])
    assert set(schema.get("required", [])) <= set(schema["properties"])


def test_the_verdict_response_is_checked_verdicts_schema():
    verdict = document()["components"]["schemas"]["Verdict"]
    model = _model_schema(CheckedVerdict, "serialization")
    # A check as read also carries its decision and acknowledgements (openapi_decisions.extend_verdict).
    assert {name: verdict["properties"][name] for name in model["properties"]} == model["properties"]
    assert verdict["required"] == model["required"]


def test_no_view_reads_a_body_field_by_hand():
    package = Path(gate_server.api.__file__).parent
    by_hand = []
    for path in sorted(package.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get"
                    and isinstance(node.func.value, ast.Name) and node.func.value.id == "body"):
                by_hand.append(f"{path.name}:{node.lineno}")
    assert by_hand == [], "parse a body with its model (api/request_bodies.py)"


def _response_refs(served: dict) -> set[str]:
    """The schema names every documented JSON response refers to."""
    return {content["schema"]["$ref"].rsplit("/", 1)[1]
            for operations in served["paths"].values() for operation in operations.values()
            for response in operation["responses"].values()
            for content in response.get("content", {}).values() if "$ref" in content.get("schema", {})}


def test_every_response_body_is_described_by_its_model():
    served = document()
    schemas = served["components"]["schemas"]
    models = {model.__name__: model for model in RESPONSE_MODELS}
    for name in _response_refs(served):
        assert name == "Verdict" or name in models, f"the response schema {name} is written by hand"
    for name, model in models.items():
        assert schemas[name] == _model_schema(model, "serialization"), name


# Real answers of the real server, each validated against the document's schema for its
# operation and status: a view whose body drifts from its model (a field added, renamed,
# retyped) fails here, whether or not the fuzz happens to reach it.
class Answers:
    def __init__(self, server_url: str, tokens: dict[str, str]):
        self.url, self.tokens = server_url, tokens
        self.served = document()
        self.seen: set[str] = set()

    def call(self, method: str, template: str, status: int, token: str | None = "web", *,
             path: str | None = None, **kwargs) -> dict:
        headers = {"Authorization": f"Bearer {self.tokens[token]}"} if token else {}
        answer = requests.request(method, self.url + (path or template), headers=headers, timeout=30, **kwargs)
        assert answer.status_code == status, (method, path or template, answer.status_code, answer.text[:500])
        described = self.served["paths"][template][method.lower()]["responses"][str(status)]
        schema = described["content"]["application/json"]["schema"]
        self.seen.add(schema["$ref"].rsplit("/", 1)[1])
        errors = sorted(jsonschema.Draft202012Validator({**schema, "components": self.served["components"]})
                        .iter_errors(answer.json()), key=str)
        assert errors == [], f"{method} {template} {status}: {errors[0].message} at {list(errors[0].absolute_path)}"
        return answer.json()


@pytest.fixture(scope="module", params=["postgres", "sqlite"])
def answers(request, tmp_path_factory):
    # A server of its own: the answers below promote, suppress and set floors.
    database_url = seeded_database(request, tmp_path_factory, "gate_answers")
    with LiveServer(database_url, workers=1) as server:
        yield Answers(server.url, make_tokens(database_url))


def test_real_answers_of_every_kind_match_the_document(answers):
    call = answers.call
    call("GET", "/healthz", 200, None)
    call("GET", "/readyz", 200, None)
    call("GET", "/api/v1/services", 200)
    call("GET", "/api/v1/services/{name}/versions", 200, path=f"/api/v1/services/{SERVICE}/versions")
    paused = call("POST", "/api/v1/checks", 201, json={"service": SERVICE, "baseline_version": "v1",
                                                       "canary_version": "v3-bad"})
    check = f"/api/v1/checks/{paused['id']}"
    call("GET", "/api/v1/checks", 200)
    anomaly = paused["anomalies"][0]
    call("POST", "/api/v1/checks/{check_id}/anomalies/{key}/acknowledge", 201, "decide",
         path=f"{check}/anomalies/{quote(anomaly['key'], safe='')}/acknowledge",
         json={"reason": "expected in this release", "kind": anomaly["kind"], "suppress": {"expires": "1d"}})
    call("POST", "/api/v1/checks/{check_id}/decision", 201, "decide", path=f"{check}/decision",
         json={"decision": "approve", "reason": "the new connect is the new cache"})
    call("GET", "/api/v1/checks/{check_id}", 200, path=check)  # with its decision and acknowledgement
    suppressions = f"/api/v1/services/{SERVICE}/suppressions"
    made = call("POST", "/api/v1/services/{service}/suppressions", 201, "decide", path=suppressions,
                json={"kind": "syscall", "pattern": "ptrace", "reason": "the debugger of this release"})
    call("DELETE", "/api/v1/suppressions/{suppression_id}", 200, "decide",
         path=f"/api/v1/suppressions/{made['id']}")
    call("GET", "/api/v1/services/{service}/suppressions", 200, path=suppressions)
    baseline = f"/api/v1/services/{SERVICE}/baseline"
    call("POST", "/api/v1/services/{service}/baseline", 201, "decide", path=baseline,
         json={"version": "v1", "reason": "in production since Monday"})
    call("GET", "/api/v1/services/{service}/baseline", 200, path=baseline)
    call("GET", "/api/v1/services/{name}", 200, path=f"/api/v1/services/{SERVICE}")
    call("GET", "/api/v1/audit", 200, "decide")
    floor = "/api/v1/policy/floors/thresholds.pause_score"
    call("PUT", "/api/v1/policy/floors/{field}", 200, "admin", path=floor, json={"value": 55})
    call("GET", "/api/v1/policy", 200, "admin")
    call("DELETE", "/api/v1/policy/floors/{field}", 200, "admin", path=floor)
    _upload_answers(call)
    call("GET", "/api/v1/checks/{check_id}", 404, path="/api/v1/checks/999999")
    assert answers.seen >= {model.__name__ for model in RESPONSE_MODELS} - {"CheckAcknowledgement", "Baseline",
                                                                          "CheckSummary"}, answers.seen


def _upload_answers(call) -> None:
    recording_uuid = str(uuid.uuid4())
    start = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(minutes=5)
    call("PUT", "/api/v1/recordings/{recording_uuid}", 201, "ingest", path=f"/api/v1/recordings/{recording_uuid}",
         json={"service": SERVICE, "version": "v9", "role": "canary", "started_at": start.isoformat(),
               "host": "node-7", "kernel": "6.18", "scope": "pid 4242"})
    windows = [{"recording_uuid": recording_uuid, "index": index,
                "started_at": (start + timedelta(seconds=10 * index)).isoformat(),
                "ended_at": (start + timedelta(seconds=10 * index + 10)).isoformat(),
                "syscalls_total": 100, "events_total": 1, "sample_every": 1, "drops": {},
                "features": [["syscall", "read", 100]]} for index in range(2)]
    call("PUT", "/api/v1/recordings/{recording_uuid}/windows/{index}", 201, "ingest",
         path=f"/api/v1/recordings/{recording_uuid}/windows/0", json=windows[0])
    call("POST", "/api/v1/windows", 201, "ingest", json={"windows": windows})
