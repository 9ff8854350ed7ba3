"""GATE_MAX_STEADY_WINDOWS_PER_HOST: however long a version runs on a host, the server keeps
its start-up windows and a bounded sample of its steady windows spread over the whole run."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

from sqlalchemy import select

from gate_contract.engine import make_engine
from gate_contract.models import Recording, Window
from gate_server.storage.bounds import stratified_sample
from tests.server.test_api_batch_ingest import post_windows
from tests.server.test_api_ingest import new_version, put_recording, recording, window

BOUND = 120  # the server's default


def _windows_of(gate, version: str) -> list[tuple[bool, datetime]]:
    engine = make_engine(gate.database_url)
    try:
        with engine.connect() as connection:
            return [tuple(row) for row in connection.execute(
                select(Window.startup, Window.started_at).join(Recording).where(Recording.version == version)
                .order_by(Window.started_at))]
    finally:
        engine.dispose()


def test_ten_times_the_bound_keeps_the_bound_spread_over_the_whole_run_and_every_start_up(gate):
    version, recording_uuid, other_host = new_version(), str(uuid.uuid4()), str(uuid.uuid4())
    assert put_recording(gate, recording_uuid, recording(version=version)).status_code == 201
    assert put_recording(gate, other_host, recording(version=version, host="node-8")).status_code == 201
    run_start = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(hours=21)
    total = 10 * BOUND

    def timed(n: int) -> dict:
        begin = run_start + timedelta(minutes=n)
        body = window(n, startup=n < 3)
        return {**body, "recording_uuid": recording_uuid, "index": n, "started_at": begin.isoformat(),
                "ended_at": (begin + timedelta(seconds=10)).isoformat()}

    for first in range(0, total, 100):  # uploaded as an agent does: in time order, in batches
        assert post_windows(gate, [timed(n) for n in range(first, first + 100)]).status_code == 201
    assert post_windows(gate, [{**window(n), "recording_uuid": other_host, "index": n}
                               for n in range(5)]).status_code == 201

    stored = _windows_of(gate, version)
    startup = [started for is_startup, started in stored if is_startup]
    steady = [started for is_startup, started in stored if not is_startup]
    assert len(startup) == 3
    # this host's steady windows are bounded; the other host's 5 are its own group, all kept
    assert BOUND // 2 <= len(steady) - 5 <= BOUND
    this_host = sorted(started.replace(tzinfo=timezone.utc) for started in steady
                       if started.replace(tzinfo=timezone.utc) >= run_start)
    # spread over the whole run: each tenth of it holds a share of the sample (the newest
    # windows, received since the last thinning, may be up to three times as dense)
    tenths = [0] * 10
    for started in this_host:
        tenths[min(9, int((started - run_start) / (timedelta(minutes=total) / 10)))] += 1
    assert min(tenths) >= len(this_host) / 10 / 2 and max(tenths) <= len(this_host) / 10 * 3, tenths


def test_a_stratified_sample_keeps_the_earliest_window_of_each_span_of_time_and_thins_within_itself():
    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    seconds = [(n, start + timedelta(seconds=n)) for n in range(100)]

    assert stratified_sample(seconds, 4) == {0, 32, 64, 96}
    assert stratified_sample(seconds[:3], 4) == {0, 1, 2}
    assert stratified_sample([("a", start), ("b", start)], 1) == {"a"}
    kept = stratified_sample(seconds, 30)
    assert kept == set(range(0, 100, 4)) and stratified_sample([seconds[n] for n in kept], 13) <= kept
