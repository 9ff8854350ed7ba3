"""Profiles read from the windows' counts documents, directly and through the per-worker
window cache, are exactly what was stored -- including windows written or pruned after
the cache was filled."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from gate_contract.models import Window
from gate_server.storage.profiles import ProfileCache, load_profile
from gate_contract.records import WindowRecord
from gate_contract.writer import WindowWriter
from tests.support.seed import BAD_CANARY_EXTRA, EPOCH, WEB_BEHAVIOUR, seed_version


def _counts(profile):
    return [(w.started_at.replace(tzinfo=None), w.counts) for w in profile.windows]


def test_cached_and_uncached_loads_agree_as_windows_come_and_go(engine):
    writer = WindowWriter(engine)
    recording = seed_version(writer, "web", "v1", WEB_BEHAVIOUR, windows=4)
    cache = ProfileCache()
    with Session(engine) as session:
        first = load_profile(session, "web", "v1", cache=cache)
        assert len(first.windows) == 4
        assert first.windows[0].counts.keys() == WEB_BEHAVIOUR.keys()
        assert _counts(load_profile(session, "web", "v1", cache=cache)) == _counts(first)

    late = EPOCH + timedelta(minutes=5)
    writer.write_window(WindowRecord(recording_uuid=recording, index=99, started_at=late,
                                     ended_at=late + timedelta(seconds=10), syscalls_total=10,
                                     features={("exec", "/bin/sh"): 2, ("syscall", "read"): 10}))
    with Session(engine) as session:
        grown = load_profile(session, "web", "v1", cache=cache)
        assert len(grown.windows) == 5
        assert grown.windows[-1].counts == {("exec", "/bin/sh"): 2, ("syscall", "read"): 10}
        assert _counts(grown) == _counts(load_profile(session, "web", "v1"))

    with Session(engine) as session, session.begin():  # what retention does to an old window
        oldest = session.execute(select(Window.id).order_by(Window.started_at).limit(1)).scalar_one()
        session.execute(delete(Window).where(Window.id == oldest))
    with Session(engine) as session:
        pruned = load_profile(session, "web", "v1", cache=cache)
        assert len(pruned.windows) == 4
        assert _counts(pruned) == _counts(load_profile(session, "web", "v1"))


def test_cache_stays_within_its_bound(engine):
    writer = WindowWriter(engine)
    seed_version(writer, "web", "v1", WEB_BEHAVIOUR, windows=6)
    per_window = len(WEB_BEHAVIOUR)
    cache = ProfileCache(max_counts=2 * per_window)
    with Session(engine) as session:
        profile = load_profile(session, "web", "v1", cache=cache)
    assert len(profile.windows) == 6 and all(w.counts for w in profile.windows)
    assert len(cache) == 2


def test_a_feature_cache_cleared_at_its_bound_mid_lookup_still_names_every_feature(engine):
    writer = WindowWriter(engine)
    seed_version(writer, "web", "v1", WEB_BEHAVIOUR, windows=2)
    seed_version(writer, "web", "v2", {**WEB_BEHAVIOUR, **BAD_CANARY_EXTRA}, windows=2)
    assert len(BAD_CANARY_EXTRA) >= 2
    cache = ProfileCache(max_features=len(WEB_BEHAVIOUR) + 1)
    with Session(engine) as session:
        load_profile(session, "web", "v1", cache=cache)  # the feature names fill the cache to one short of its bound
        canary = load_profile(session, "web", "v2", cache=cache)  # the new ones overflow it: it is cleared
        assert _counts(canary) == _counts(load_profile(session, "web", "v2"))
