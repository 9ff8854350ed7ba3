"""Pruning an old check that people decided on: its decision and acknowledgements go
with it, a suppression made from it stays in force, and the audit log keeps every entry."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gate_server.services import decisions
from gate_server.services.retention import prune
from gate_contract.models import Acknowledgement, AuditEntry, Check, CheckDecision, Service, Suppression
from tests.ops.seed import seed_recording


def _count(session: Session, model) -> int:
    return session.execute(select(func.count()).select_from(model)).scalar_one()


def test_pruning_a_decided_check_keeps_its_suppression_and_the_audit_log(engine):
    now = datetime.now(timezone.utc)
    seed_recording(engine, "web", "v1", [{("syscall", "read"): 10}], start=now - timedelta(days=2))
    with Session(engine) as session, session.begin():
        service_id = session.execute(select(Service.id).where(Service.name == "web")).scalar_one()
        check = Check(service_id=service_id, baseline_version="v1", canary_version="v2", verdict="pause", score=40.0,
                      created_at=now - timedelta(days=45),
                      result={"anomalies": [{"kind": "exec", "key": "/bin/sh", "change": "new"}]})
        session.add(check)
        session.flush()
        decisions.decide(session, check.id, decision="approve", reason="expected", actor="alice")
        decisions.acknowledge(session, check.id, "/bin/sh", reason="converter", actor="alice",
                              suppress={"pattern": "/bin/sh", "expires": "7d"})

    report = prune(engine, now - timedelta(days=30))

    assert report.checks == 1
    with Session(engine) as session:
        assert (_count(session, Check), _count(session, CheckDecision), _count(session, Acknowledgement)) == (0, 0, 0)
        suppression = session.execute(select(Suppression)).scalar_one()
        assert (suppression.pattern, suppression.check_id, suppression.revoked_at) == ("/bin/sh", None, None)
        assert _count(session, AuditEntry) == 3  # decision, suppression.create, acknowledge
