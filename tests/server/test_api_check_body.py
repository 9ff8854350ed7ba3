"""The body of POST /api/v1/checks is one model (api/check_body.py): each bad field is named,
with a sentence that says what it must be, and the OpenAPI document is that model's schema."""

from __future__ import annotations

import pytest
import requests

from gate_server.api.check_body import CheckBody
from tests.server.conftest import SERVICE
from tests.server.test_api_errors import _assert_error

CHECK = {"service": SERVICE, "baseline_version": "v1", "canary_version": "v2"}


@pytest.mark.parametrize("change, status, field, message", [
    ({"service": None}, 400, "service", "missing required field 'service'"),
    ({"baseline_version": "   "}, 400, "baseline_version", "field 'baseline_version' must be a non-empty string"),
    ({"canary_version": 2}, 400, "canary_version", "must be a string (got 2)"),
    ({"canary_version": "v" * 201}, 400, "canary_version", "at most 200 characters"),
    ({"stage": "s" * 101}, 400, "stage", "at most 100 characters"),
    ({"stage": ["canary"]}, 400, "stage", "must be a string"),
    ({"config": "pause_score: 50"}, 422, "config", "'config' must be an object"),
], ids=["missing", "blank", "not-a-string", "too-long", "stage-too-long", "stage-a-list", "config-not-an-object"])
def test_a_bad_check_field_is_named_with_what_it_must_be(gate, change, status, field, message):
    body = {name: value for name, value in {**CHECK, **change}.items() if value is not None}
    error = _assert_error(gate.request("POST", "/api/v1/checks", json=body), status, field=field)
    assert message in error["error"]


def test_names_are_trimmed_and_fields_a_newer_client_sends_are_ignored(gate):
    response = gate.request("POST", "/api/v1/checks", json={**CHECK, "service": f" {SERVICE} ", "stage": " s1 ",
                                                          "sent_by_a_newer_action": {"run": 1}})
    assert response.status_code == 201, response.text
    assert (response.json()["service"], response.json()["stage"]) == (SERVICE, "s1")


def test_the_openapi_check_request_is_the_models_schema_with_the_judges_config(gate):
    schemas = requests.get(f"{gate.url}/api/v1/openapi.json", timeout=10).json()["components"]["schemas"]
    documented, model = schemas["CheckRequest"], CheckBody.model_json_schema()
    assert documented["properties"].pop("config")["anyOf"] == [{"$ref": "#/components/schemas/ThresholdConfig"},
                                                               {"type": "null"}]
    assert {**documented, "properties": {**documented["properties"], "config": model["properties"]["config"]}} == model
    assert schemas["ThresholdConfig"]["title"] == "GateConfig"
