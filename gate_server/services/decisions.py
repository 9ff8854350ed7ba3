"""A person's word on a check: approve or reject it (once), and acknowledge its anomalies
one by one, optionally suppressing them for the service. Each is audited with who and why."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone
from typing import Any, Optional

from sqlalchemy.orm import Session

from gate_server.analysis.suppressions import check_matches_key, literal_pattern
from gate_server.services import audit, suppressions
from gate_server.services.errors import Conflict, DomainError, NotFound
from gate_server.storage import checks as stored_checks
from gate_server.storage import decisions as stored
from gate_contract.models import Acknowledgement, Check, CheckDecision
from gate_contract.rollout import DECISIONS, VERDICTS, may_hold_a_rollout

# A pass needs nobody's word; the others are what a person may overrule or confirm.
DECIDABLE_VERDICTS = tuple(verdict for verdict in VERDICTS if may_hold_a_rollout(verdict))
MAX_REASON = 2000


def _reason(reason: Any) -> str:
    if not isinstance(reason, str) or not reason.strip():
        raise DomainError("'reason' is required: say why, in a sentence (it is stored with your name)",
                          field="reason")
    if len(reason) > MAX_REASON:
        raise DomainError(f"'reason' is longer than {MAX_REASON} characters", field="reason")
    return reason.strip()


def check_service(session: Session, check_id: int) -> str:
    """The service of a check (404 if there is none), to authorize before anything else."""
    name = stored_checks.service_of(session, check_id)
    if name is None:
        raise NotFound(f"check {check_id} does not exist")
    return name


def _decision_document(row: CheckDecision) -> dict[str, Any]:
    return {"decision": row.decision, "by": row.decided_by, "reason": row.reason,
            "at": audit.iso(row.decided_at), "check_id": row.check_id}


def answered(document: dict[str, Any]) -> dict[str, Any]:
    """What a decision on a check answers: its verdict, its anomalies (kind, key, change; not
    their rates, which move with every poll) and a digest of the thresholds it was judged by."""
    thresholds = json.dumps(document.get("thresholds") or {}, sort_keys=True, separators=(",", ":"))
    return {"verdict": document.get("verdict"),
            "anomalies": sorted([a.get("kind"), a.get("key"), a.get("change")] for a in document.get("anomalies", [])),
            "config_digest": hashlib.sha256(thresholds.encode()).hexdigest()}


def void_if_changed(session: Session, check_id: int, service: str, earlier: dict[str, Any],
                    judged: dict[str, Any]) -> bool:
    """Void (delete, audited) the decision on a re-judged check when the re-judgement changed what
    it answered: an approval of a warn never stands for the pause the same key became. True if voided."""
    row = stored.decision_of(session, check_id)
    if row is None or answered(earlier) == answered(judged):
        return False
    stored.remove_decision(session, row.id)
    audit.record(session, actor=audit.GATE_ACTOR, action="decision.void", service=service, check_id=check_id,
                 reason="the check was judged again and its verdict, anomalies or thresholds changed",
                 detail={"decision": _decision_document(row), "answered": answered(earlier), "now": answered(judged)})
    return True


def decide(session: Session, check_id: int, *, decision: Any, reason: Any, actor: str) -> dict[str, Any]:
    """Store and audit a decision; returns the decision object. Never commits.

    Conflict if the check already has a decision or passed."""
    if decision not in DECISIONS:
        raise DomainError(f"'decision' must be \"approve\" or \"reject\" (got {decision!r})", field="decision")
    reason = _reason(reason)
    service = check_service(session, check_id)
    # Locked: a re-judgement of the check waits, so the decision answers the document read here.
    check = stored_checks.locked(session, check_id)
    earlier = decision_for(session, check_id)
    if earlier is not None:
        raise Conflict(f"check {check_id} was already decided: {earlier['decision']} by {earlier['by']} "
                       f"at {earlier['at']}")
    if check.verdict not in DECIDABLE_VERDICTS:
        raise Conflict(f"check {check_id} passed: a pass needs no decision (only a pause, warn or "
                       "inconclusive check can be approved or rejected)")
    now = datetime.now(timezone.utc)
    row = CheckDecision(check_id=check_id, decision=decision, decided_by=actor, reason=reason, decided_at=now)
    if not stored.add_decision_unless_decided(session, row):
        # Two people decided at once; the first one stored stands.
        earlier = decision_for(session, check_id)
        raise Conflict(f"check {check_id} was already decided: {earlier['decision']} by {earlier['by']}")
    audit.record(session, actor=actor, action="decision", service=service, check_id=check_id, reason=reason, at=now,
                 detail={"decision": decision, "verdict": check.verdict, "score": check.score,
                         "baseline_version": check.baseline_version, "canary_version": check.canary_version,
                         "stage": check.stage, "answered": answered(check.result or {})})
    return _decision_document(row)


def decision_for(session: Session, check_id: int) -> Optional[dict[str, Any]]:
    row = stored.decision_of(session, check_id)
    return _decision_document(row) if row is not None else None


def acknowledgements_for(session: Session, check_id: int) -> list[dict[str, Any]]:
    rows = stored.acknowledgements_of(session, check_id)
    return [{"id": row.id, "kind": row.kind, "key": row.key, "reason": row.reason, "by": row.acknowledged_by,
             "at": audit.iso(row.acknowledged_at), "suppression_id": row.suppression_id} for row in rows]


def with_decisions(session: Session, check_id: int, document: dict[str, Any]) -> dict[str, Any]:
    """The check document as clients read it: the stored verdict, its decision and acknowledgements."""
    return {**document, "decision": decision_for(session, check_id),
            "acknowledgements": acknowledgements_for(session, check_id)}


def _anomaly(check: Check, key: str, kind: Optional[str]) -> dict[str, Any]:
    found = [a for a in (check.result or {}).get("anomalies", [])
             if a.get("key") == key and (kind is None or a.get("kind") == kind)]
    if not found:
        raise NotFound(f"check {check.id} has no anomaly with key {key!r}" + (f" of kind {kind!r}" if kind else ""),
                       field="key")
    if len({a.get("kind") for a in found}) > 1:
        kinds = ", ".join(sorted({a.get("kind") for a in found}))
        raise DomainError(f"check {check.id} has anomalies of kinds {kinds} with key {key!r}: send 'kind' to "
                          "say which", field="kind")
    return found[0]


def acknowledge(session: Session, check_id: int, key: str, *, reason: Any, actor: str,
                kind: Optional[str] = None, suppress: Optional[dict[str, Any]] = None,
                limits: suppressions.SuppressionLimits = suppressions.SuppressionLimits()) -> dict[str, Any]:
    """Acknowledge one anomaly of a check, optionally suppressing its pattern for the service:
    the key itself, escaped, unless a pattern that matches the key is given (and the operator's
    limits allow it). Returns the acknowledgement (with the suppression, if one was made). Never commits."""
    reason = _reason(reason)
    if suppress is not None and not isinstance(suppress, dict):
        raise DomainError("'suppress' must be null or an object {\"pattern\": ..., \"expires\": ...}",
                          field="suppress")
    service = check_service(session, check_id)
    anomaly = _anomaly(stored_checks.by_id(session, check_id), key, kind)
    now = datetime.now(timezone.utc)
    made = None
    if suppress is not None:
        pattern = suppress.get("pattern") or literal_pattern(anomaly["kind"], anomaly["key"])
        if not isinstance(pattern, str):
            raise DomainError("'suppress.pattern' must be a string", field="suppress.pattern")
        try:
            check_matches_key(anomaly["kind"], pattern.strip(), anomaly["key"])
        except ValueError as exc:
            raise DomainError(f"invalid suppression pattern: {exc}", field="suppress.pattern") from None
        made = suppressions.create(session, service=service, kind=anomaly["kind"], pattern=pattern, reason=reason,
                                   expires=suppress.get("expires"), actor=actor, check_id=check_id, now=now,
                                   limits=limits, pattern_field="suppress.pattern",
                                   known_limit=anomaly.get("limit"))
    row = stored.add_acknowledgement(session, Acknowledgement(
        check_id=check_id, kind=anomaly["kind"], key=anomaly["key"], reason=reason, acknowledged_by=actor,
        acknowledged_at=now, suppression_id=made["id"] if made else None))
    audit.record(session, actor=actor, action="acknowledge", service=service, check_id=check_id, reason=reason,
                 at=now, detail={"kind": anomaly["kind"], "key": anomaly["key"], "change": anomaly.get("change"),
                                 "suppression_id": row.suppression_id})
    return {"id": row.id, "check_id": check_id, "kind": row.kind, "key": row.key, "reason": reason, "by": actor,
            "at": audit.iso(now), "suppression": made}
