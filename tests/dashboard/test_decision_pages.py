"""The decision forms through Flask's test client on both backends: a form posted from
another origin is refused and stores nothing; a check token may not post them."""

from __future__ import annotations

from tests.dashboard.conftest import make_token


def _decision(dashboard, check_id: int):
    token = dashboard.admin_token
    return dashboard.app.test_client().get(f"/api/v1/checks/{check_id}",
                                           headers={"Authorization": f"Bearer {token}"}).get_json()["decision"]


def test_a_decision_posted_from_another_origin_is_refused(dashboard):
    client = dashboard.app.test_client()
    check = dashboard.run_check(client)
    dashboard.login(client, make_token(dashboard.engine, "decide", ["web"], "alice"))
    refused = client.post(f"/checks/{check['id']}/decision", data={"decision": "approve", "reason": "x"},
                          headers={"Origin": "https://evil.example"})
    assert refused.status_code == 403
    assert _decision(dashboard, check["id"]) is None
    accepted = client.post(f"/checks/{check['id']}/decision", data={"decision": "approve", "reason": "x"})
    assert accepted.status_code == 302
    assert _decision(dashboard, check["id"])["by"] == "alice"


def test_a_check_token_cannot_acknowledge_or_revoke(dashboard):
    client = dashboard.app.test_client()
    check = dashboard.run_check(client)
    dashboard.login(client, dashboard.web_token)
    response = client.post(f"/checks/{check['id']}/acknowledge",
                           data={"kind": "exec", "key": "/bin/sh", "reason": "x", "suppress": "1", "expires": "1h"})
    assert response.status_code == 403 and b"scope &#39;decide&#39;" in response.data
    assert client.get("/services/web/suppressions").status_code == 200
    assert client.post("/suppressions/1/revoke").status_code in (403, 404)


def test_a_rejection_reads_rejected_on_the_page(dashboard):
    client = dashboard.app.test_client()
    check = dashboard.run_check(client)
    dashboard.login(client, make_token(dashboard.engine, "decide", ["web"], "bob"))
    response = client.post(f"/checks/{check['id']}/decision", data={"decision": "reject", "reason": "no"},
                           follow_redirects=True)
    page = response.get_data(as_text=True)
    assert "Rejected by bob." in page and "<strong>Rejected</strong>" in page
