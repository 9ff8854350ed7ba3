"""The durable job queue on each backend: every job runs once however many runners
poll, a job leased by a runner that died is taken again once its lease expires, and
a failing job is stored as failed with its reason."""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy.orm import sessionmaker

from gate_server.jobs.runner import JobFailed, JobRunner, RunnerSettings
from gate_server.storage import jobs
from gate_contract.engine import make_engine


@pytest.fixture
def factory(migrated_url):
    engine = make_engine(migrated_url)
    yield sessionmaker(engine, expire_on_commit=False)
    engine.dispose()


def _enqueue(factory, count: int, kind: str = "note") -> None:
    with factory.begin() as session:
        for number in range(count):
            jobs.enqueue(session, kind, {"number": number})


def test_runners_polling_at_once_run_every_job_exactly_once(factory):
    _enqueue(factory, 40)
    ran = Counter()
    lock = threading.Lock()

    def note(_job_id, payload):
        with lock:
            ran[payload["number"]] += 1
        return "noted"

    runners = [JobRunner(factory, {"note": note}, RunnerSettings(threads=1)) for _ in range(4)]
    for number, runner in enumerate(runners):
        runner.worker = f"runner-{number}"

    def drain(runner):
        while runner.run_once():
            pass

    threads = [threading.Thread(target=drain, args=(runner,)) for runner in runners]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert ran == Counter({number: 1 for number in range(40)})
    with factory() as session:
        assert {job.state for job in jobs.jobs_of(session, "note")} == {"done"}


def test_a_dead_runners_job_is_taken_again_only_after_its_lease_expires(factory):
    _enqueue(factory, 1)
    with factory.begin() as session:  # a runner leases the job, then its server is killed
        assert jobs.lease_next(session, ("note",), "killed:1", timedelta(seconds=0.6)) is not None
    survivor = JobRunner(factory, {"note": lambda job_id, payload: f"ran {job_id}"},
                         RunnerSettings(lease_seconds=5))

    assert survivor.run_once() is False, "a leased job is not taken while its lease runs"
    time.sleep(0.8)
    assert survivor.run_once() is True
    with factory() as session:
        [job] = jobs.jobs_of(session, "note")
    assert (job.state, job.attempts, job.leased_by) == ("done", 2, survivor.worker)


def test_a_failing_job_is_stored_failed_with_its_reason_and_not_run_again(factory):
    _enqueue(factory, 1)

    def refuse(_job_id, _payload):
        raise JobFailed("the receiver refused it")

    runner = JobRunner(factory, {"note": refuse}, RunnerSettings())
    assert runner.run_once() is True
    assert runner.run_once() is False
    with factory() as session:
        [job] = jobs.jobs_of(session, "note")
    assert (job.state, job.outcome) == ("failed", "the receiver refused it")


def test_a_long_job_keeps_its_lease_by_heartbeat(factory):
    _enqueue(factory, 1)
    taken_twice = []

    def slow(_job_id, _payload):
        # Another runner polls throughout: a renewed lease never lets it in.
        taken_twice.append(other.run_once())
        time.sleep(1.2)
        taken_twice.append(other.run_once())
        return "slow"

    other = JobRunner(factory, {"note": slow}, RunnerSettings())
    runner = JobRunner(factory, {"note": slow}, RunnerSettings(lease_seconds=0.6))
    runner.worker = "heartbeat:1"
    assert runner.run_once() is True
    assert taken_twice == [False, False]

