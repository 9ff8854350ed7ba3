"""A service's baseline: the version promoted to it (what a check's `current` names), and
how stable it is -- what it rests on, whether it changed lately, how the last checks moved."""

from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from typing import Any, Optional

from sqlalchemy.orm import Session

from gate_contract.profile import Profile, as_utc
from gate_server.services import audit
from gate_server.services.catalog import service_id, versions_summary
from gate_server.services.errors import DomainError, NotFound
from gate_server.storage import baselines as stored
from gate_server.storage import catalog as stored_catalog
from gate_server.storage.profiles import ProfileCache, load_profile
from gate_contract.models import BaselinePromotion

CURRENT = "current"
# "Changed recently" looks back this far; the last checks are this many.
RECENT = timedelta(days=7)
RECENT_CHECKS = 20


def promote(session: Session, service: str, version: Any, reason: Any, actor: str) -> dict[str, Any]:
    """Make `version` the service's baseline (audited); it must have been recorded. Never commits."""
    if not isinstance(version, str) or not version.strip():
        raise DomainError("'version' is required: the version to promote, e.g. v42", field="version")
    version = version.strip()
    if version == CURRENT:
        raise DomainError("'current' names the promoted baseline; promote a version by its name", field="version")
    if not isinstance(reason, str) or not reason.strip():
        raise DomainError("'reason' is required: say why this version becomes the baseline", field="reason")
    sid = service_id(session, service)
    if not stored_catalog.recording_count(session, sid, version):
        raise NotFound(f"service {service!r} has no recording of version {version!r}: record it before promoting",
                       field="version")
    previous = current_promotion(session, sid)
    now = datetime.now(timezone.utc)
    row = stored.add_promotion(session, BaselinePromotion(service_id=sid, version=version, reason=reason.strip(),
                                                          promoted_by=actor, promoted_at=now))
    audit.record(session, actor=actor, action="baseline.promote", service=service, reason=row.reason, at=now,
                 detail={"version": version, "previous_version": previous.version if previous else None})
    return _promotion_document(row, service, previous.version if previous else None)


def _promotion_document(row: BaselinePromotion, service: str, previous: Optional[str]) -> dict[str, Any]:
    return {"service": service, "version": row.version, "reason": row.reason, "by": row.promoted_by,
            "at": audit.iso(row.promoted_at), "previous_version": previous}


def current_promotion(session: Session, sid: int) -> Optional[BaselinePromotion]:
    latest = stored.latest_promotions(session, sid, 1)
    return latest[0] if latest else None


def baseline_profile(session: Session, service: str, version: str, *, with_promoted_canary: bool = True,
                     cache: Optional[ProfileCache] = None) -> Profile:
    """The baseline side of a check: the version's windows recorded with role `baseline` (a
    canary host's windows under the baseline's version never vouch for a canary) and, when
    the version is the one the operator promoted, its `canary` windows received before the
    promotion: what the operator saw and promoted (a window backdated to before it, sent
    after, is not)."""
    baseline = load_profile(session, service, version, role="baseline", cache=cache)
    promoted = current_promotion(session, service_id(session, service)) if with_promoted_canary else None
    if promoted is None or promoted.version != version:
        return baseline
    before = load_profile(session, service, version, role="canary", until=as_utc(promoted.promoted_at),
                          cache=cache)
    windows = sorted(baseline.windows + before.windows, key=lambda w: (w.started_at is None, w.started_at or 0))
    return replace(baseline, windows=windows)


def resolve(session: Session, service: str, version: str) -> str:
    """A check's baseline version: `current` becomes the promoted version (400 if none is)."""
    if version != CURRENT:
        return version
    promoted = current_promotion(session, service_id(session, service))
    if promoted is None:
        raise DomainError(f"baseline_version 'current': no version of service {service!r} has been promoted; "
                          f"promote one (POST /api/v1/services/{service}/baseline or gate-server baselines "
                          "promote) or name the baseline version", field="baseline_version")
    return promoted.version


def stability(session: Session, service: str, now: Optional[datetime] = None) -> dict[str, Any]:
    """The service's baseline and how far to trust it (the service API and page)."""
    now = now or datetime.now(timezone.utc)
    sid = service_id(session, service)
    promotions = stored.latest_promotions(session, sid, 2)
    current = promotions[0] if promotions else None
    document: dict[str, Any] = {
        "version": current.version if current else None,
        "promotion": _promotion_document(current, service, promotions[1].version if len(promotions) > 1 else None)
        if current else None,
        "recordings": 0, "windows": 0, "last_recording_at": None,
        "changed_recently": False, "recent_days": RECENT.days,
        "checks": _recent_checks(session, sid),
    }
    if current is not None:
        summary = next((row for row in versions_summary(session, service) if row["version"] == current.version), None)
        last_recording = stored_catalog.last_recording_start(session, sid, current.version)
        document.update(recordings=summary["recordings"] if summary else 0,
                        windows=summary["windows"] if summary else 0, last_recording_at=audit.iso(last_recording))
        changes = [as_utc(current.promoted_at)] + ([as_utc(last_recording)] if last_recording else [])
        document["changed_recently"] = max(changes) >= now - RECENT
    return document


def _recent_checks(session: Session, sid: int) -> dict[str, Any]:
    """How the verdicts and scores of the last checks moved: counts, score spread, verdict changes."""
    rows = stored.latest_check_verdicts(session, sid, RECENT_CHECKS)
    scores = [float(score) for _, score in rows]
    verdicts = [verdict for verdict, _ in rows]
    return {
        "count": len(rows),
        "verdicts": dict(Counter(verdicts)),
        "verdict_changes": sum(1 for newer, older in zip(verdicts, verdicts[1:]) if newer != older),
        "score_min": min(scores) if scores else None,
        "score_max": max(scores) if scores else None,
        "score_mean": round(statistics.fmean(scores), 1) if scores else None,
        "score_stdev": round(statistics.stdev(scores), 1) if len(scores) > 1 else None,
    }
