"""The OpenAPI document's request and response schemas are the models' own: every
request body a view reads is parsed by a pydantic model whose JSON schema the document
carries unchanged, and the verdict is CheckedVerdict's."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import gate_server.api
from gate_server.api.check_body import CheckBody
from gate_server.api.openapi import REF_TEMPLATE, document
from gate_server.api.request_bodies import SCHEMA_NAMES
from gate_server.services.checks import CheckedVerdict
from gate_contract.records import RecordingInfo, WindowRecord

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
