"""The JSON bodies of the API's answers, other than the verdict (services/checks.py's
CheckedVerdict) and the records: one pydantic model each, the source of the OpenAPI
document's response schemas. The views build their documents in the services;
tests/server/test_openapi_schemas.py validates real answers of the real server against
the document these models make, so a body that drifts from its model fails there.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field

from gate_server.services.audit import ACTIONS
from gate_contract.kinds import KINDS
from gate_contract.rollout import VERDICTS


class ResponseBody(BaseModel):
    # A field the model does not name is drift: the document says so (additionalProperties false).
    model_config = ConfigDict(extra="forbid")


When = datetime
Verdict = Literal[VERDICTS]


class Error(ResponseBody):
    error: str = Field(description="One sentence saying what is wrong.")
    status: int
    field: Optional[str] = Field(None, description="The request field or config path at fault.")


class CheckSummary(ResponseBody):
    id: int
    service: str
    baseline_version: str
    canary_version: str
    stage: str
    verdict: Verdict
    score: float
    created_at: When
    url: Optional[str]
    api_url: Optional[str]


class CheckPage(ResponseBody):
    checks: list[CheckSummary]
    next: Optional[str] = Field(description="URL of the next (older) page.")


class ServiceEntry(ResponseBody):
    name: str
    versions: int
    last_window_at: Optional[When]


class ServiceList(ResponseBody):
    services: list[ServiceEntry]


class VersionSummary(ResponseBody):
    version: str
    recordings: int
    roles: list[str]
    windows: int
    syscalls: int
    events: int
    lost: int
    loss_ratio: float
    first_window_at: Optional[When]
    last_window_at: Optional[When]
    first_received_at: Optional[When] = Field(description="When the server received the version's first window.")
    last_received_at: Optional[When] = Field(description="When the server received its last window.")


class VersionList(ResponseBody):
    service: str
    versions: list[VersionSummary] = Field(description="Newest first.")


class Stored(ResponseBody):
    recording: str
    index: Optional[int] = None
    created: bool = Field(description="false: it was stored already (a replay).")


class StoredBatch(ResponseBody):
    created: list[bool] = Field(description="Per window, in order: false if it was stored already (a replay).")
    stored: int
    new: int


class Status(ResponseBody):
    status: str
    database: Optional[str] = None


class PolicyFloorEntry(ResponseBody):
    service: Optional[str] = Field(description="null: every service.")
    field: str
    value: Any
    set_by: str
    set_at: Optional[When]


class PolicyAuditEntry(ResponseBody):
    at: Optional[When]
    actor: str = Field(description="The CLI's OS user, or the admin token's stable id (token:<id>).")
    action: Literal["set", "unset"]
    service: Optional[str]
    field: str
    old_value: Any
    new_value: Any


class Policy(ResponseBody):
    floors: list[PolicyFloorEntry]
    audit: list[PolicyAuditEntry] = Field(description="Newest first.")


class FloorChange(ResponseBody):
    service: Optional[str]
    field: str
    old_value: Any
    value: Any


class Decision(ResponseBody):
    decision: Literal["approve", "reject"]
    by: str = Field(description="token:<id> (the deciding token's stable id), or the dashboard user.")
    reason: str
    at: When
    check_id: int


class Suppression(ResponseBody):
    id: int
    service: str
    kind: Literal[KINDS]
    pattern: str
    reason: str
    by: str
    created_at: When
    expires: When
    state: Literal["active", "expired", "revoked"]
    revoked_by: Optional[str]
    revoked_at: Optional[When]
    check_id: Optional[int]


class Acknowledgement(ResponseBody):
    """An acknowledgement as made (POST .../acknowledge)."""

    id: int
    check_id: int
    kind: str
    key: str
    reason: str
    by: str
    at: When
    suppression: Optional[Suppression] = Field(description="The suppression made with it, if one was.")


class CheckAcknowledgement(ResponseBody):
    """An acknowledgement as a check lists it."""

    id: int
    kind: str
    key: str
    reason: str
    by: str
    at: When
    suppression_id: Optional[int]


class SuppressionList(ResponseBody):
    service: str
    suppressions: list[Suppression] = Field(description="Newest first.")


class AuditEntry(ResponseBody):
    id: int
    at: When
    actor: str = Field(description="token:<id> for what a token did through the API (its stable id), "
                                   "<os user> (cli) from the CLI, syscall-gate for the gate's own.")
    actor_description: Optional[str] = Field(
        description="The description of the token a token:<id> actor names, as it is now.")
    action: Literal[ACTIONS]
    service: str
    check_id: Optional[int]
    reason: str
    detail: dict[str, Any]


class AuditLog(ResponseBody):
    entries: list[AuditEntry] = Field(description="Newest first.")


class Promotion(ResponseBody):
    service: str
    version: str
    reason: str
    by: str
    at: When
    previous_version: Optional[str]


class RecentChecks(ResponseBody):
    """The service's last checks: how much they moved."""

    count: int
    verdicts: dict[str, int]
    verdict_changes: int
    score_min: Optional[float]
    score_max: Optional[float]
    score_mean: Optional[float]
    score_stdev: Optional[float]


class Baseline(ResponseBody):
    version: Optional[str] = Field(description="The promoted version; null: none promoted.")
    promotion: Optional[Promotion]
    recordings: int
    windows: int
    last_recording_at: Optional[When]
    changed_recently: bool = Field(description="Promoted or recorded again within recent_days.")
    recent_days: int
    checks: RecentChecks


class ServiceBaseline(ResponseBody):
    service: str
    baseline: Baseline


class Service(ResponseBody):
    service: str
    versions: list[VersionSummary] = Field(description="Newest first.")
    baseline: Baseline


# The document's name of each response schema (api/openapi.py refers to them by these names).
RESPONSE_MODELS: tuple[type[ResponseBody], ...] = (
    Error, CheckSummary, CheckPage, ServiceList, VersionList, Stored, StoredBatch, Status, Policy, FloorChange,
    Decision, Acknowledgement, CheckAcknowledgement, Suppression, SuppressionList, AuditLog, Promotion, Baseline,
    ServiceBaseline, Service,
)
