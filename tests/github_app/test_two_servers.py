"""Two real gate servers (`gate-server serve`, gunicorn) on one Postgres, one killed
with SIGKILL in the middle of a deployment review: every review reaches GitHub's
stand-in once and every webhook its receiver once, because reviews and deliveries are
jobs of the queue in Postgres, leased, and taken again when a dead server's lease ends."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections import Counter

import requests
from cryptography.hazmat.primitives import serialization
from sqlalchemy import select

from gate_server.storage import migrate
from gate_contract.engine import make_engine
from gate_contract.models import Job
from tests.action.conftest import create_token
from tests.action.profiles import BAD_EXTRAS, USUAL_FEATURES, seed_rollout
from tests.github_app.github_app_standin import GitHubAppStandIn
from tests.github_app.test_protection_rule import (
    APP_ID, BAD_SHA, GOOD_SHA, INSTALLATION_ID, WEBHOOK_SECRET, _record, app_config, deliver, payload, private_key,
    signed,
)
from tests.ops.webhook_server import WebhookReceiver
from tests.support.live_server import LiveServer

__all__ = ["private_key"]  # the module-scoped key fixture, shared with the single-server tests
LEASE_SECONDS = 3


class HeldTokens(GitHubAppStandIn):
    """Holds every installation-token request until released: no review can be sent
    before the kill, so the kill lands mid-review on whichever server took one."""

    def __init__(self, *args):
        super().__init__(*args)
        self.released = threading.Event()
        self.token_requests = 0
        self._requested = threading.Condition()

    def _access_token(self, installation, token, body):
        with self._requested:
            self.token_requests += 1
            self._requested.notify_all()
        self.released.wait(60)
        return super()._access_token(installation, token, body)

    def wait_for_token_requests(self, count: int, timeout: float) -> bool:
        with self._requested:
            return self._requested.wait_for(lambda: self.token_requests >= count, timeout=timeout)


def _leased_reviews(database_url: str) -> list[str]:
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            return list(connection.execute(select(Job.leased_by).where(
                Job.kind == "github_review", Job.state == "queued", Job.leased_by.is_not(None))).scalars())
    finally:
        engine.dispose()


def test_a_server_killed_mid_review_loses_and_repeats_nothing(postgres_url, tmp_path, private_key):
    migrate.upgrade(postgres_url)
    seed_rollout(postgres_url)
    _record(postgres_url, GOOD_SHA, USUAL_FEATURES, seed=11)
    _record(postgres_url, BAD_SHA, {**USUAL_FEATURES, **BAD_EXTRAS}, seed=12)
    token = create_token(postgres_url)
    public_pem = private_key.public_key().public_bytes(serialization.Encoding.PEM,
                                                       serialization.PublicFormat.SubjectPublicKeyInfo)
    key_file = tmp_path / "app.pem"
    key_file.write_bytes(private_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                   serialization.NoEncryption()))

    with HeldTokens(APP_ID, public_pem, INSTALLATION_ID) as github, WebhookReceiver() as on_call:
        config_file = tmp_path / "github-app.yml"
        config_file.write_text(app_config(github.url, key_file))
        env = {"GATE_GITHUB_APP_CONFIG": str(config_file), "GATE_GITHUB_WEBHOOK_SECRET": WEBHOOK_SECRET,
               "GATE_WEBHOOK_URLS": f"{on_call.url}/hook", "GATE_JOB_LEASE_SECONDS": str(LEASE_SECONDS),
               "GATE_JOB_POLL_SECONDS": "0.2"}
        with LiveServer(postgres_url, workers=1, env=env) as first, LiveServer(postgres_url, workers=1, env=env) as second:
            runs = {9101: GOOD_SHA, 9102: BAD_SHA, 9103: GOOD_SHA}
            for number, (run_id, sha) in enumerate(runs.items()):
                answer = deliver((first, second)[number % 2], *signed(payload(github.url, run_id, sha)))
                assert answer.status_code == 202, answer.text
            paused = requests.post(
                f"{second.url}/api/v1/checks", timeout=30, headers={"Authorization": f"Bearer {token}"},
                json={"service": "checkout", "baseline_version": "v1", "canary_version": BAD_SHA, "stage": "api"})
            assert paused.status_code == 201 and paused.json()["verdict"] == "pause", paused.text

            # Every review held at its last step (two job threads per server: room for all three),
            # so the killed server's are mid-review, whichever it is.
            assert github.wait_for_token_requests(len(runs), timeout=60), "the servers did not take every review"
            [owner, *_] = _leased_reviews(postgres_url)
            owner_pid = int(owner.rsplit(":", 1)[1])
            killed = next(server for server in (first, second) if os.getpgid(owner_pid) == server.process.pid)
            os.killpg(killed.process.pid, signal.SIGKILL)
            killed.process.wait(10)
            github.released.set()

            reviews = github.wait_for_reviews(len(runs), timeout=60)
            time.sleep(LEASE_SECONDS + 1)  # a repeat would come after the dead server's leases expire
            reviews = list(github.reviews)
            posts = on_call.wait_for(2, timeout=30)

    assert sorted((int(r.run_id), r.state) for r in reviews) == [(9101, "approved"), (9102, "rejected"),
                                                                  (9103, "approved")], "each run reviewed once"
    assert github.token_requests > len(runs), "the killed server's review was taken again by the other"
    # Two paused checks (run 9102's and the API's): one post each, each with its own job id.
    assert len(posts) == 2 and len(Counter(post["delivery"] for post in posts)) == 2, posts
    assert {post["body"]["stage"] for post in posts} == {"prod", "api"}
