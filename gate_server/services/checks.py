"""A check: load both profiles, ask the judge, store the verdict document, tell listeners.

The HTTP view and `gate-server check` both call `run_check`, so a check from a shell
is the same check the Action gets, stored the same way.

A request with an idempotency key (the Action's `Idempotency-Key`: one per gate step
of a run attempt, repeated by its retries and polls) stores one check per key and
service: a repeat within the key's retention is judged again over what is recorded
now and updates that check (same id and created_at) instead of storing another, and
listeners hear of it only when its stored verdict changes.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Iterable, Optional

from pydantic import AwareDatetime, Field, field_serializer
from sqlalchemy.orm import Session

from gate_server.analysis.config import ConfigError, GateConfig, load_config
from gate_server.analysis.judge import judge
from gate_server.analysis.policy import apply_policy
from gate_server.analysis.verdict import Verdict
from gate_server.services import baselines, decisions, policy, suppressions
from gate_server.services.catalog import service_id
from gate_server.services.errors import Conflict, InvalidConfig, NotFound
from gate_server.settings import Settings
from gate_server.storage import checks as stored
from gate_contract.models import Check, isoformat_utc
from gate_contract.profile import as_utc
from gate_server.storage.profiles import ProfileCache, earlier_start_ups, load_profile


# Called with (session, document, settings) in the check's transaction when a stored
# verdict is new or changed -- the notifications hook. What a listener writes (a queued
# webhook) is committed with the check or not at all.
CheckListener = Callable[[Session, dict[str, Any], Settings], None]
CHECK_LISTENERS: list[CheckListener] = []

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200


@dataclass(frozen=True)
class CheckRequest:
    service: str
    baseline_version: str
    canary_version: str
    config: GateConfig
    stage: str = ""
    # Repeats of one request (retries, polls) carry the same key; None: every request is a new check.
    idempotency_key: Optional[str] = None


def parse_config(raw: Optional[dict[str, Any]]) -> GateConfig:
    """The threshold config object (parsed YAML) -> GateConfig; 422-worthy errors name the field."""
    try:
        return load_config(raw or {})
    except ConfigError as exc:
        raise InvalidConfig(f"invalid config: {exc}", field=getattr(exc, "field_path", None) or None) from None


class CheckedVerdict(Verdict):
    """The judge's verdict as a stored check: the verdict document of the API."""

    id: int
    url: str = Field(description="Dashboard page of the check.")
    api_url: str
    stage: str = ""
    created_at: AwareDatetime
    idempotent_replay: bool = Field(
        default=False, description="True when the request repeated an Idempotency-Key: this is the check that key "
                                   "stored, judged again over what is recorded now.")

    @field_serializer("created_at")
    def _iso(self, value: datetime) -> str:
        return value.isoformat()


def run_check(
    session: Session, request: CheckRequest, settings: Settings, *, base_url: str = "",
    cache: Optional[ProfileCache] = None,
) -> CheckedVerdict:
    """Judge canary against baseline, store the check, tell listeners; returns the stored verdict.

    The caller owns the transaction (app_database for a request, the CLI's context manager).
    """
    sid = service_id(session, request.service)
    # `current`: the promoted baseline; the check stores the version it stood for then.
    request = replace(request, baseline_version=baselines.resolve(session, request.service, request.baseline_version))
    # The baseline is what baseline hosts recorded (and what the operator promoted), never
    # what a canary host wrote under the baseline's version.
    same_version = request.baseline_version == request.canary_version
    baseline = baselines.baseline_profile(session, request.service, request.baseline_version,
                                          with_promoted_canary=not same_version, cache=cache)
    canary = load_profile(session, request.service, request.canary_version,
                          role="canary" if same_version else None, cache=cache)
    startup_reference = earlier_start_ups(session, request.service, canary,
                                          (request.baseline_version, request.canary_version), cache)

    # The repo's config may tighten the server's floors, never loosen them; no suppression lowers a floor.
    floors = policy.floors_for(session, request.service)
    effective = apply_policy(request.config, floors)
    judged = judge(baseline, canary, effective.config, startup_reference=startup_reference,
                   suppressions=suppressions.active_for(session, sid),
                   floored_limits={f.field.partition(".")[2] for f in floors if f.field.startswith("limits.")})

    check, earlier_verdict = _check_for(session, sid, request, judged, settings)
    checked = CheckedVerdict(**{
        **dict(judged), "service": request.service, "baseline_version": request.baseline_version,
        "canary_version": request.canary_version, "id": check.id, "url": f"{base_url}/checks/{check.id}",
        "api_url": f"{base_url}/api/v1/checks/{check.id}", "stage": request.stage,
        "created_at": as_utc(check.created_at),
        "thresholds_source": effective.sources, "policy_notes": effective.notes,
    })
    # The stored document is the check's; whether a request repeated it is the response's.
    document = checked.to_dict()
    earlier_document = {} if earlier_verdict is None else dict(check.result or {})
    if earlier_verdict is None:
        check.result = document
        changed = True
    else:
        changed = _update_stored(session, check.id, earlier_verdict, checked, document)
        decisions.void_if_changed(session, check.id, request.service, earlier_document, document)
    suppressions.audit_uses(session, request.service, check.id, earlier_document, document)
    if changed:
        for listener in CHECK_LISTENERS:
            listener(session, document, settings)
    return checked.model_copy(update={"idempotent_replay": earlier_verdict is not None})


def _update_stored(session: Session, check_id: int, earlier_verdict: str, checked: CheckedVerdict,
                   document: dict[str, Any]) -> bool:
    """Store a repeat's verdict in the key's check; True when this request changed its verdict.

    Compare-and-set on the verdict: of two repeats that judge the same change at once
    (SQLite has no row lock to keep them apart), one sees the change and notifies.
    """
    values = {"verdict": checked.verdict, "score": checked.score, "result": document}
    won = stored.store_verdict_if_unchanged(session, check_id, earlier_verdict, values)
    if not won:
        stored.store_verdict(session, check_id, values)
    return won and checked.verdict != earlier_verdict


def _check_for(session: Session, sid: int, request: CheckRequest, judged: Verdict,
               settings: Settings) -> tuple[Check, Optional[str]]:
    """(the check to store the verdict in, its verdict before this request or None for a new check).

    The check a key stored (locked until commit, so concurrent repeats update it one at
    a time), or a new one. A key older than the retention is released, not reused.
    """
    key = request.idempotency_key
    now = datetime.now(timezone.utc)
    if key:
        earlier = stored.by_key_locked(session, sid, key)
        if earlier is not None and as_utc(earlier.created_at) < now - timedelta(hours=settings.idempotency_hours):
            stored.release_key(session, earlier.id)
            earlier = None
        if earlier is not None:
            return _repeated(earlier, request), earlier.verdict
    check = Check(
        service_id=sid, baseline_version=request.baseline_version, canary_version=request.canary_version,
        stage=request.stage, verdict=judged.verdict, score=judged.score, result={}, created_at=now,
        idempotency_key=key or None,
    )
    earlier = stored.add_unless_key_taken(session, check)
    if earlier is None:
        return check, None
    # Another worker stored this key between our look and our insert: its check it is.
    return _repeated(earlier, request), earlier.verdict


def _repeated(stored: Check, request: CheckRequest) -> Check:
    asked = (request.baseline_version, request.canary_version, request.stage)
    if (stored.baseline_version, stored.canary_version, stored.stage) != asked:
        raise Conflict(
            f"Idempotency-Key already names check {stored.id} of {stored.baseline_version} -> "
            f"{stored.canary_version} (stage {stored.stage!r}): send a new key for another check",
            field="Idempotency-Key")
    return stored


def get_check(session: Session, check_id: int) -> tuple[str, dict[str, Any]]:
    """(service name, stored verdict document) of one check."""
    found = stored.service_and_document(session, check_id)
    if found is None:
        raise NotFound(f"check {check_id} does not exist")
    return found


def list_checks(
    session: Session, *, services: Optional[Iterable[str]] = None, limit: int = DEFAULT_PAGE_SIZE,
    before: Optional[int] = None,
) -> list[dict[str, Any]]:
    """Checks newest first, keyset-paginated by id (`before` = the last id of the previous page)."""
    return [
        {"id": cid, "service": name, "baseline_version": baseline, "canary_version": canary, "stage": stage,
         "verdict": verdict, "score": score, "created_at": isoformat_utc(created),
         "url": url, "api_url": api_url}
        for cid, name, baseline, canary, stage, verdict, score, created, url, api_url in stored.newest_first(
            session, services=services, limit=max(1, min(limit, MAX_PAGE_SIZE)), before=before)
    ]
