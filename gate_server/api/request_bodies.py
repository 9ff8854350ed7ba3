"""The JSON bodies of the API's decision, suppression, promotion and policy requests:
one pydantic model each, validated once in the view (a 400 naming the field for a
value of the wrong type), and the source of the OpenAPI document's request schemas.

The models check shape; what a value means (a reason that is blank, a decision that
is neither approve nor reject, an expiry in the past) is the service's to say, with
the same message the dashboard's forms get. Fields a newer client sends are ignored.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Optional, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, WithJsonSchema

from gate_server.api.errors import ApiError
from gate_server.api.parsing import json_object
from gate_server.services.suppressions import MAX_EXPIRY
from gate_contract.kinds import KINDS

Text = Annotated[str, Field(strict=True)]
# Optional to the model (the service names what is missing, as it does for the dashboard's
# forms), a string to the document, which describes the request to send.
Reason = Annotated[Optional[Text], WithJsonSchema({"type": "string", "minLength": 1}),
                   Field(description="Why, in a sentence; stored with who said it.")]
Expires = Annotated[Optional[Text], WithJsonSchema({"type": "string"}), Field(
    description=f"A duration from now (7d, 12h, 30m) or an ISO 8601 time with a zone; in the future, at most "
                f"{MAX_EXPIRY.days} days away.")]
Kind = Annotated[Optional[Text], WithJsonSchema({"type": "string", "enum": list(KINDS)})]


def _as_documented(schema: dict[str, Any], model: type["RequestBody"]) -> None:
    # "default": null next to a string's schema would be a default the schema refuses.
    for field_schema in schema.get("properties", {}).values():
        if "default" in field_schema and field_schema["default"] is None:
            del field_schema["default"]
    if model.documented_required:
        schema["required"] = list(model.documented_required)


class RequestBody(BaseModel):
    model_config = ConfigDict(extra="ignore", json_schema_extra=_as_documented)
    # What a client must send, as the document says; a body without one is a 400 from the service.
    documented_required: ClassVar[tuple[str, ...]] = ()


class DecisionBody(RequestBody):
    documented_required = ("decision", "reason")
    decision: Annotated[Optional[Text], WithJsonSchema({"type": "string", "enum": ["approve", "reject"]})] = None
    reason: Reason = None


class SuppressBody(RequestBody):
    documented_required = ("expires",)
    pattern: Annotated[Optional[Text], WithJsonSchema({"type": "string"}), Field(
        description="Of the allow-list syntax of the anomaly's kind (docs/config.md); omitted: the anomaly's "
                    "key.")] = None
    expires: Expires = None


class AcknowledgeBody(RequestBody):
    documented_required = ("reason",)
    reason: Reason = None
    kind: Annotated[Kind, Field(description="Needed only when anomalies of two kinds share the key.")] = None
    suppress: Optional[SuppressBody] = Field(None, description="Also suppress the anomaly's pattern for the "
                                                               "service, until `expires`.")


class SuppressionBody(RequestBody):
    documented_required = ("kind", "pattern", "reason", "expires")
    kind: Annotated[Text, WithJsonSchema({"type": "string", "enum": list(KINDS)})]
    pattern: Text
    reason: Text = Field(description="Why, in a sentence; stored with who said it.")
    expires: Expires = None


class PromotionBody(RequestBody):
    documented_required = ("version", "reason")
    version: Annotated[Optional[Text], WithJsonSchema({"type": "string"}),
                       Field(description="A recorded version of the service.")] = None
    reason: Reason = None


class FloorBody(RequestBody):
    documented_required = ("value",)
    value: Any = Field(description="The floor (docs/config.md, 'Server policy'); null is no floor: DELETE it "
                                   "instead.", json_schema_extra={"not": {"type": "null"}})
    service: Annotated[Optional[Annotated[str, Field(max_length=200, strict=True)]],
                       WithJsonSchema({"type": "string", "maxLength": 200}),
                       Field(description="Omitted: every service.")] = None


# The document's name for each model's schema (api/openapi.py).
class FlaggerPayload(RequestBody):
    """What Flagger POSTs to every webhook (flagger pkg/controller/webhook.go, CanaryWebhookPayload)."""

    name: str = Field(min_length=1, max_length=253)
    namespace: str = Field(min_length=1, max_length=63)
    phase: str = ""
    checksum: str = Field("", max_length=128)
    metadata: dict[str, str] = Field(default_factory=dict)


SCHEMA_NAMES: dict[str, type[RequestBody]] = {
    "DecisionRequest": DecisionBody, "AcknowledgeRequest": AcknowledgeBody,
    "SuppressionRequest": SuppressionBody, "PromotionRequest": PromotionBody, "FloorRequest": FloorBody,
    "FlaggerWebhook": FlaggerPayload,
}

Body = TypeVar("Body", bound=RequestBody)


def parse_body(model: type[Body]) -> Body:
    """The request's JSON object as `model`: 415/400 as json_object says, 400 naming the first bad field."""
    body = json_object()
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        field = ".".join(str(part) for part in first["loc"])
        if first["type"] == "missing":
            raise ApiError(400, f"missing required field {field!r}", field=field) from None
        raise ApiError(400, f"field {field!r}: {first['msg']}", field=field) from None
