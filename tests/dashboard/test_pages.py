"""Dashboard pages: login by token, scoping by service, escaping, the check page."""

from __future__ import annotations

from http.cookies import SimpleCookie

from gate_server.app import create_app
from gate_server.dashboard.secret import load_or_create
from tests.dashboard.conftest import make_token


def test_pages_redirect_to_login_without_a_session(dashboard):
    client = dashboard.app.test_client()
    response = client.get("/checks/1")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=/checks/1")


def test_login_sets_a_strict_httponly_session_and_lands_on_next(dashboard):
    client = dashboard.app.test_client()
    response = client.post("/login", data={"token": dashboard.web_token, "next": "/checks"})
    assert response.status_code == 302 and response.headers["Location"] == "/checks"
    cookie = SimpleCookie(response.headers["Set-Cookie"])["syscall_gate_session"]
    assert cookie["httponly"] and cookie["samesite"] == "Strict"
    assert dashboard.web_token not in response.headers["Set-Cookie"]  # the id is kept, never the secret
    assert client.get("/checks").status_code == 200


def test_unknown_and_ingest_tokens_cannot_log_in(dashboard):
    client = dashboard.app.test_client()
    refused = client.post("/login", data={"token": "sg_not-a-token"})
    assert refused.status_code == 401 and b"unknown or revoked" in refused.data
    ingest = make_token(dashboard.engine, "ingest", ["web"])
    refused = client.post("/login", data={"token": ingest})
    assert refused.status_code == 401 and b"scope" in refused.data
    assert client.get("/").status_code == 302


def test_login_never_redirects_off_site(dashboard):
    client = dashboard.app.test_client()
    response = client.post("/login", data={"token": dashboard.web_token, "next": "//evil.example/x"})
    assert response.headers["Location"] == "/"


def test_cross_site_form_posts_are_refused(dashboard):
    client = dashboard.app.test_client()
    response = client.post("/login", data={"token": dashboard.web_token},
                           headers={"Origin": "https://evil.example"})
    assert response.status_code == 403


def test_check_page_shows_verdict_anomalies_and_chart_escaped(dashboard):
    client = dashboard.app.test_client()
    document = dashboard.run_check(client)
    assert document["url"].endswith(f"/checks/{document['id']}")
    dashboard.login(client, dashboard.web_token)

    page = client.get(f"/checks/{document['id']}").get_data(as_text=True)

    assert f'data-verdict="{document["verdict"]}"' in page
    assert document["verdict"] == "pause"
    for anomaly in document["anomalies"]:
        assert anomaly["severity"] in page
    assert "/etc/shadow:r" in page and "/bin/sh" in page
    assert '<svg class="rate-chart"' in page and page.count('class="bar-baseline"') >= 5
    assert 'class="chart-row anomaly" data-kind="exec" data-key="/bin/sh"' in page
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_a_token_sees_only_its_services(dashboard):
    client = dashboard.app.test_client()
    other = dashboard.run_check(client, service="db", baseline="15.4", canary="15.4")
    dashboard.login(client, dashboard.web_token)

    overview = client.get("/").get_data(as_text=True)
    assert "/services/web" in overview and "/services/db" not in overview
    assert client.get(f"/checks/{other['id']}").status_code == 403
    forbidden = client.get("/services/db")
    assert forbidden.status_code == 403 and b"does not cover service" in forbidden.data
    assert client.get("/checks?service=db").status_code == 403
    assert client.get("/services/web").status_code == 200


def test_service_page_lists_versions_with_their_recordings(dashboard):
    client = dashboard.app.test_client()
    dashboard.login(client, dashboard.admin_token)
    page = client.get("/services/web").get_data(as_text=True)
    assert "v1" in page and "v2-bad" in page and "canary" in page
    assert "1 in 1" in page and page.count("<code title=") == 2  # one row per recording


def test_checks_are_listed_newest_first(dashboard):
    client = dashboard.app.test_client()
    first = dashboard.run_check(client)
    second = dashboard.run_check(client)
    dashboard.login(client, dashboard.web_token)
    page = client.get("/checks").get_data(as_text=True)
    assert page.index(f"/checks/{second['id']}") < page.index(f"/checks/{first['id']}")


def test_revoking_the_token_ends_its_dashboard_session(dashboard):
    from gate_server.cli import main

    client = dashboard.app.test_client()
    dashboard.login(client, dashboard.web_token)
    assert client.get("/").status_code == 200
    assert main(["tokens", "revoke", dashboard.web_token[:12],
                 "--db", dashboard.engine.url.render_as_string(hide_password=False)]) == 0
    assert client.get("/").status_code == 302


def test_logout_ends_the_session(dashboard):
    client = dashboard.app.test_client()
    dashboard.login(client, dashboard.web_token)
    assert client.post("/logout").status_code == 302
    assert client.get("/").status_code == 302


def test_workers_on_one_data_dir_share_the_session_key(dashboard, migrated_url):
    # gunicorn workers each build an app: a session made by one must work on the others.
    settings = dashboard.app.config["GATE_SETTINGS"]
    other_worker = create_app({"GATE_SETTINGS": settings, "TESTING": True})
    assert other_worker.secret_key == dashboard.app.secret_key
    assert (settings.data_dir / "secret_key").stat().st_mode & 0o077 == 0

    client = dashboard.app.test_client()
    dashboard.login(client, dashboard.web_token)
    cookie = client.get_cookie("syscall_gate_session")
    other_client = other_worker.test_client()
    other_client.set_cookie("syscall_gate_session", cookie.value)
    assert other_client.get("/").status_code == 200


def test_key_file_is_created_once(tmp_path):
    first = load_or_create(tmp_path / "k")
    assert load_or_create(tmp_path / "k") == first and len(first) == 64


def test_an_inconclusive_check_says_why(dashboard):
    client = dashboard.app.test_client()
    document = dashboard.run_check(client, service="db", baseline="15.4", canary="15.4")
    assert document["verdict"] == "inconclusive"
    dashboard.login(client, dashboard.admin_token)
    page = client.get(f"/checks/{document['id']}").get_data(as_text=True)
    assert 'data-verdict="inconclusive"' in page
    assert "no windows recorded for canary version 15.4" in page
    assert "No anomalies" in page


def test_check_page_shows_what_the_operators_floors_refused(dashboard):
    from sqlalchemy.orm import Session

    from gate_server.services.policy import set_floor

    with Session(dashboard.engine) as session, session.begin():
        set_floor(session, field="limits.max_new_write_paths", value=0, actor="operator")
    client = dashboard.app.test_client()
    response = client.post("/api/v1/checks", headers={"Authorization": f"Bearer {dashboard.admin_token}"}, json={
        "service": "web", "baseline_version": "v1", "canary_version": "v2-bad", "config": {"known_write_paths": ["/*"]}})
    document = response.get_json()
    assert document["policy_notes"][0].startswith("known_write_paths: the request listed ['/*']")
    dashboard.login(client, dashboard.web_token)
    page = client.get(f"/checks/{document['id']}").get_data(as_text=True)
    assert '<li class="policy-note">known_write_paths: the request listed [&#39;/*&#39;]' in page
