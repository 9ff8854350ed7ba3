"""The body of POST /api/v1/checks: one pydantic model, validated once, with errors that name the field.

The OpenAPI document describes the body with this model's own JSON schema (api/openapi.py).
Fields a newer client sends are ignored, so an Action ahead of its server still gets a verdict.
"""

from __future__ import annotations

from typing import Annotated, Any, Optional

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from gate_server.analysis.config_errors import from_validation_error
from gate_server.api.errors import ApiError

# Stripped first, then bounded: "  v1 " is v1, and blanks are no name.
Name = Annotated[str, Field(min_length=1, max_length=200, pattern=r"\S", strict=True)]


class CheckBody(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    service: Name
    baseline_version: Name = Field(description="The version in production.")
    canary_version: Name = Field(description="The version being rolled out.")
    stage: Annotated[str, Field(max_length=100, strict=True)] = Field(
        "", description="Rollout stage label, e.g. canary-10%.")
    # Validated by the judge's own model (services.checks.parse_config), so its errors are the judge's
    # (422 with the config path); the OpenAPI document shows that model's schema here.
    config: Optional[dict[str, Any]] = Field(None, description="The parsed YAML threshold config (docs/config.md).")


def parse_check_body(body: dict[str, Any]) -> CheckBody:
    """400 naming the field for a missing or malformed one; 422 for a config that is not an object."""
    try:
        return CheckBody.model_validate(body)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        field = str(first["loc"][0]) if first["loc"] else ""
        if field == "config":
            raise ApiError(422, "invalid config: 'config' must be an object (the parsed YAML threshold config)",
                           field="config") from None
        if first["type"] == "missing":
            raise ApiError(400, f"missing required field {field!r}", field=field) from None
        if first["type"] in ("string_too_short", "string_pattern_mismatch"):
            raise ApiError(400, f"field {field!r} must be a non-empty string", field=field) from None
        raise ApiError(400, f"field {from_validation_error(exc, CheckBody).message}", field=field or None) from None
