"""The database goes away: readiness says so, requests get a JSON 503, and nothing stored is lost."""

from __future__ import annotations

import requests
from sqlalchemy.orm import Session

from gate_server.services.tokens import create_token
from gate_contract.engine import make_engine
from tests.support.live_server import LiveServer
from tests.support.seed import seeded_web_database


def test_database_outage_is_503_and_loses_nothing(own_postgres):
    # A dedicated cluster (own_postgres): stopping the shared one would break every other test.
    postgres = own_postgres
    url = seeded_web_database(postgres, "gate_outage", windows=6)
    engine = make_engine(url)
    with Session(engine) as session, session.begin():
        secret = create_token(session, scope="check", services=["web"]).secret
    engine.dispose()
    headers = {"Authorization": f"Bearer {secret}"}
    body = {"service": "web", "baseline_version": "v1", "canary_version": "v2"}

    with LiveServer(url, workers=1) as server:
        stored = requests.post(f"{server.url}/api/v1/checks", json=body, headers=headers, timeout=30).json()
        assert requests.get(f"{server.url}/readyz", timeout=10).status_code == 200

        postgres.stop()
        ready = requests.get(f"{server.url}/readyz", timeout=30)
        assert ready.status_code == 503
        assert ready.json() == {"error": "database unavailable; retry later", "status": 503}
        for response in (
            requests.post(f"{server.url}/api/v1/checks", json=body, headers=headers, timeout=30),
            requests.get(f"{server.url}/api/v1/checks/{stored['id']}", headers=headers, timeout=30),
        ):
            assert response.status_code == 503, response.text
            assert response.json()["error"] == "database busy or unavailable; retry later"
            assert response.headers["Retry-After"] == "5"
        assert requests.get(f"{server.url}/healthz", timeout=10).status_code == 200  # the process is fine

        postgres.restart()
        assert requests.get(f"{server.url}/readyz", timeout=30).status_code == 200
        again = requests.get(f"{server.url}/api/v1/checks/{stored['id']}", headers=headers, timeout=30)
        assert again.status_code == 200 and again.json() == stored
        assert "Traceback" not in server.log()
