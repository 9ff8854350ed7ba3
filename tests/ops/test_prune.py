"""`gate-server prune`: old data goes in batches, newer data is never touched."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gate_server.cli import main
from gate_server.services.retention import prune
from gate_contract.models import Check, Recording, Service, Window
from tests.ops.seed import seed_recording

COUNTS = {("syscall", "read"): 10, ("file", "/etc/hosts:r"): 1}
HOUR = timedelta(hours=1)


def _count(engine, model) -> int:
    with Session(engine) as session:
        return session.execute(select(func.count()).select_from(model)).scalar_one()


def _add_check(engine, service: str, created_at: datetime, stage: str) -> None:
    with Session(engine) as session, session.begin():
        service_id = session.execute(select(Service.id).where(Service.name == service)).scalar_one()
        session.add(Check(service_id=service_id, baseline_version="v1", canary_version="v2", verdict="pass",
                          score=0.0, stage=stage, created_at=created_at))


def _seed_old_and_new(engine):
    """Data around a 30-day cutoff; the nearest windows are half an hour from it, so a
    cutoff computed a little later (by the CLI) draws the same line."""
    now = datetime.now(timezone.utc)
    old = seed_recording(engine, "web", "v1", [COUNTS] * 7, start=now - timedelta(days=40))
    # A recording that straddles the cutoff (windows 1.5 h and 0.5 h before it, 0.5 h and
    # 1.5 h after) keeps its newer windows and itself.
    straddling = seed_recording(engine, "web", "v1", [COUNTS] * 4, start=now - timedelta(days=30) - 1.5 * HOUR,
                                step=HOUR)
    new = seed_recording(engine, "web", "v2", [COUNTS] * 5, start=now - timedelta(days=2))
    _add_check(engine, "web", now - timedelta(days=45), "old")
    _add_check(engine, "web", now - timedelta(days=1), "new")
    return old, straddling, new, now


def test_prune_deletes_only_older_data_in_batches(engine):
    old, straddling, new, now = _seed_old_and_new(engine)

    report = prune(engine, now - timedelta(days=30), batch_size=3)

    # 7 old windows + the 2 of the straddling recording that ended before the cutoff.
    assert (report.windows, report.recordings, report.checks) == (9, 1, 1)
    with Session(engine) as session:
        remaining = dict(session.execute(
            select(Recording.uuid, func.count(Window.id)).join(Window, isouter=True).group_by(Recording.uuid)
        ).all())
        assert remaining == {straddling: 2, new: 5}
        assert session.execute(select(Check.stage)).scalars().all() == ["new"]
        assert session.execute(select(Recording.uuid).where(Recording.uuid == old)).first() is None


def test_dry_run_counts_the_same_and_deletes_nothing(engine):
    now = _seed_old_and_new(engine)[-1]
    before = [_count(engine, model) for model in (Window, Recording, Check)]

    report = prune(engine, now - timedelta(days=30), dry_run=True)

    assert (report.windows, report.recordings, report.checks) == (9, 1, 1)
    assert [_count(engine, model) for model in (Window, Recording, Check)] == before


def test_cli_reports_counts_and_rejects_bad_durations(engine, migrated_url, capsys):
    _seed_old_and_new(engine)

    assert main(["prune", "--older-than", "30d", "--json", "--db", migrated_url]) == 0
    counts = json.loads(capsys.readouterr().out)
    assert (counts["windows"], counts["recordings"], counts["checks"]) == (9, 1, 1)
    assert main(["prune", "--older-than", "30d", "--db", migrated_url]) == 0
    assert "deleted 0 windows" in capsys.readouterr().out

    assert main(["prune", "--older-than", "thirty", "--db", migrated_url]) == 2
    assert "--older-than" in capsys.readouterr().err
    assert _count(engine, Window) == 7
