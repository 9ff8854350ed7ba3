"""Rollups (window_rollups, 10-minute slots per version): drift reads them and judges as it
did on the windows themselves; the bound's thinning leaves them whole; migration 0014
sums the windows stored before it into the same rollups the writer makes."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from alembic import command
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from gate_contract.models import Recording, WindowRollup
from gate_server.analysis.config import GateConfig
from gate_server.analysis.judge import judge
from gate_server.services.drift import DriftPeriods, judge_drift
from gate_server.services.retention import prune
from gate_server.storage import bounds, migrate
from gate_server.storage.profiles import load_profile
from gate_server.storage.rollups import compact_rollups, load_rollup_profile
from tests.ops.seed import seed_recording

NOW = datetime.now(timezone.utc)
STEADY = {("syscall", "read"): 2400, ("syscall", "write"): 2100, ("syscall", "openat"): 120,
          ("file", "/srv/app/index.html:r"): 40, ("connect", "inet:10.0.0.5:5432"): 12}
PERIODS = DriftPeriods.ending_at(NOW, timedelta(hours=1), timedelta(days=7))
TEN_MINUTES = timedelta(minutes=10)


def _seed(engine) -> list[str]:
    """A day-old baseline run and a recent run that reads a secret: one window per slot."""
    older = seed_recording(engine, "web", "v1", [{**STEADY, ("syscall", "read"): 2400 + 37 * n} for n in range(24)],
                           start=NOW - timedelta(days=1), step=TEN_MINUTES)
    recent = seed_recording(engine, "web", "v1", [{**STEADY, ("file", "/etc/shadow:r"): 1} for _ in range(5)],
                            start=NOW - timedelta(minutes=50), step=TEN_MINUTES)
    return [older, recent]


def _judged(document: dict) -> tuple:
    return (document["verdict"], document["score"],
            sorted((a["kind"], a["key"], a["change"], a["severity"]) for a in document["anomalies"]))


def test_drift_on_rollups_judges_as_drift_on_the_windows_did_and_survives_the_bound(engine):
    _seed(engine)
    config = GateConfig()
    with Session(engine) as session:
        # drift as it was: the stored windows of each period
        reference, recent = (load_profile(session, "web", "v1", since=since, until=until) for since, until in
                             ((PERIODS.reference_since, PERIODS.recent_since), (PERIODS.recent_since, PERIODS.until)))
        on_windows = judge(reference, recent, config).to_dict()
        on_rollups = judge_drift(session, "web", "v1", config, PERIODS)
    assert _judged(on_rollups) == _judged(on_windows) and on_rollups["verdict"] == "pause"
    assert on_rollups["observation"] == on_windows["observation"]

    with Session(engine) as session, session.begin():
        uuids = session.execute(select(Recording.uuid)).scalars().all()
        assert bounds.enforce_steady_bound(session, uuids, 6) > 0
    with Session(engine) as session:
        assert _judged(judge_drift(session, "web", "v1", config, PERIODS)) == _judged(on_rollups)


def test_migration_0014_sums_the_stored_windows_into_the_rollups_the_writer_makes(engine, migrated_url):
    _seed(engine)
    with Session(engine) as session:
        written = load_rollup_profile(session, "web", "v1", since=NOW - timedelta(days=2), until=NOW)
    command.downgrade(migrate.alembic_config(migrated_url), "0012_recording_startup")
    migrate.upgrade(migrated_url)
    with Session(engine) as session:
        backfilled = load_rollup_profile(session, "web", "v1", since=NOW - timedelta(days=2), until=NOW)
        assert session.execute(select(func.count()).select_from(WindowRollup)).scalar_one() == 29
    assert backfilled == written and len(written.windows) == 29
    with Session(engine) as session, session.begin():
        session.execute(delete(WindowRollup))


def test_retention_drops_the_rollups_of_slots_before_the_cutoff(engine):
    _seed(engine)

    report = prune(engine, NOW - timedelta(hours=12))

    assert report.rollups == 24
    with Session(engine) as session:
        assert session.execute(select(func.count()).select_from(WindowRollup)).scalar_one() == 5


def test_compaction_merges_a_slots_rows_into_one_that_drift_reads_alike(engine):
    _seed(engine)
    # a second host's windows in the same slots: two rows per slot
    seed_recording(engine, "web", "v1", [dict(STEADY) for _ in range(24)], start=NOW - timedelta(days=1),
                   step=TEN_MINUTES)
    with Session(engine) as session:
        before = load_rollup_profile(session, "web", "v1", since=NOW - timedelta(days=2), until=NOW)
    with Session(engine) as session, session.begin():
        assert compact_rollups(session, before=NOW) == 24
    with Session(engine) as session:
        assert load_rollup_profile(session, "web", "v1", since=NOW - timedelta(days=2), until=NOW) == before
        assert session.execute(select(func.count()).select_from(WindowRollup)).scalar_one() == 29
