"""Groups wherever a check is read, through the real server: the API (groups next to the
flat anomalies, in the OpenAPI document), the check page, the generic and Slack webhooks,
`gate-server check` and the Action's job summary each show a new program's anomalies (what
its parent did to start it included) as one entry, its children nested, the rate shifts as
one more, and list the rest as before."""

from __future__ import annotations

import subprocess
import sys

import pytest
import requests

from gate_contract.engine import make_engine
from gate_server.storage import migrate
from tests.action.conftest import ACTION_DIR
from tests.dashboard.conftest import STEADY, make_token
from tests.ops.seed import seed_recording
from tests.ops.webhook_server import WebhookReceiver
from tests.support.live_server import LiveServer

pytestmark = pytest.mark.slow

SHELL, ID, SERVICE = "/usr/bin/dash", "/usr/bin/id", "/usr/bin/web"
# The canary: the service (seen exec'd, so named) runs a shell, which runs id; the service itself
# also writes a new log and forks (no fork syscall named), which no group may take; it opens files
# five times as much and waits a fifth as often (two rate shifts: one entry).
CANARY = {**STEADY, ("exec", SHELL): 2, ("exec", ID): 2, ("syscall", "dup2"): 4, ("syscall", "wait4"): 2,
          ("syscall", "execve"): 4, ("syscall", "getgroups"): 2, ("file", "/etc/passwd:r"): 2,
          ("file", "/var/log/web-debug.log:w"): 5, ("process", "fork"): 4,
          ("syscall", "openat"): 5 * STEADY[("syscall", "openat")], ("syscall", "epoll_wait"): 180}
PROGRAMS = [
    {"program": SERVICE, "features": [["exec", SHELL], ["syscall", "execve"], ["file", "/var/log/web-debug.log:w"],
                                      ["syscall", "read"]]},
    {"program": SHELL, "started_by": [SERVICE],
     "features": [["exec", ID], ["syscall", "dup2"], ["syscall", "wait4"], ["syscall", "execve"],
                  ["file", "/etc/passwd:r"]]},
    {"program": ID, "started_by": [SHELL], "features": [["syscall", "getgroups"], ["file", "/etc/passwd:r"]]},
]
SHELL_SUMMARY = (f"{SHELL} (new exec, started by {SERVICE}) made 2 new syscalls, 1 new file "
                 f"and exec'd {ID}; starting it: 1 new syscall")


@pytest.fixture
def served(sqlite_url):
    migrate.upgrade(sqlite_url)
    engine = make_engine(sqlite_url)
    seed_recording(engine, "web", "v1", [dict(STEADY) for _ in range(12)])
    seed_recording(engine, "web", "v2-shell", [dict(CANARY) for _ in range(12)], role="canary", programs=PROGRAMS)
    token = make_token(engine, "admin", [])
    engine.dispose()
    with WebhookReceiver() as generic, WebhookReceiver() as slack:
        live = LiveServer(sqlite_url, workers=1, env={
            "GATE_WEBHOOK_URLS": f"{generic.url}/hook,slack+{slack.url}/services/T/B/x"})
        live.extra_env["GATE_PUBLIC_URL"] = live.url
        with live:
            response = requests.post(f"{live.url}/api/v1/checks", timeout=60, headers={
                "Authorization": f"Bearer {token}"}, json={
                "service": "web", "baseline_version": "v1", "canary_version": "v2-shell"})
            assert response.status_code == 201, response.text
            yield live, token, response.json(), generic, slack


def _keys(document: dict, indexes: list[int]) -> set[tuple[str, str]]:
    return {(document["anomalies"][i]["kind"], document["anomalies"][i]["key"]) for i in indexes}


def test_the_check_groups_a_new_programs_anomalies_and_every_view_shows_one_entry(served, sqlite_url):
    live, token, document, generic, slack = served
    # The API: the flat list is whole; the groups point into it, heaviest first.
    assert document["verdict"] == "pause"
    group, rates = document["groups"]
    assert (group["cause"], group["program"], group["started_by"], group["severity"]) == \
        ("program", SHELL, [SERVICE], "high")
    assert document["anomalies"][group["anomaly"]]["key"] == SHELL
    # the service's execve is the shell's start (the child runs the service's image until its exec)
    assert _keys(document, group["anomalies"]) == {("syscall", "dup2"), ("syscall", "wait4"),
                                                   ("file", "/etc/passwd:r"), ("syscall", "execve")}
    assert _keys(document, group["started_with"]) == {("syscall", "execve")}
    [child] = group["children"]
    assert child["program"] == ID and _keys(document, child["anomalies"]) == {("syscall", "getgroups")}
    assert group["summary"] == SHELL_SUMMARY
    assert (rates["cause"], rates["program"]) == ("rates", None)
    assert _keys(document, [rates["anomaly"], *rates["anomalies"]]) == {("syscall", "openat"),
                                                                         ("syscall", "epoll_wait")}
    assert rates["summary"].startswith("2 rate shifts: syscall ")
    flat = {(a["kind"], a["key"]) for a in document["anomalies"]}
    # made by the service alone (a log of its own; forks no fork syscall stands behind): never grouped
    assert {("file", "/var/log/web-debug.log:w"), ("process", "fork")} <= flat
    grouped = {group["anomaly"], child["anomaly"], rates["anomaly"], *group["anomalies"], *child["anomalies"],
               *rates["anomalies"]}
    rest = set(range(len(document["anomalies"]))) - grouped
    assert _keys(document, sorted(rest)) == {("file", "/var/log/web-debug.log:w"), ("process", "fork")}

    # The OpenAPI document describes the field.
    schemas = requests.get(f"{live.url}/api/v1/openapi.json", timeout=30).json()["components"]["schemas"]
    verdict = next(schema for name, schema in schemas.items() if name == "Verdict")
    assert "groups" in verdict["properties"] and "AnomalyGroup" in schemas

    # Webhooks: the generic payload carries the groups; Slack reads one line per group.
    [hook] = generic.wait_for(1, timeout=20)
    assert hook["body"]["groups"][0]["summary"] == SHELL_SUMMARY
    assert hook["body"]["groups"][0]["children"][0]["program"] == ID
    assert hook["body"]["groups"][1]["cause"] == "rates"
    assert not {a["key"] for a in hook["body"]["top_anomalies"]} & {"dup2", "wait4", "getgroups", "execve"}
    [message] = slack.wait_for(1, timeout=20)
    text = message["body"]["blocks"][2]["text"]["text"]
    assert f"• *high* {SHELL_SUMMARY}" in text and f"◦ *high* {ID} (new exec, started by {SHELL})" in text
    assert f"• *{rates['severity']}* {rates['summary']}" in text
    assert "dup2" not in text and text.count("rate shift") == 1

    # The check page: a group per program and one for the rates, each head and members in its table.
    browser = requests.Session()
    browser.post(f"{live.url}/login", data={"token": token, "next": "/"}, timeout=30)
    page = browser.get(f"{live.url}/checks/{document['id']}", timeout=30).text
    assert page.count('class="lineage-group') == 3 and "Other anomalies" in page
    assert SHELL_SUMMARY.replace("'", "&#39;") in page and rates["summary"] in page
    assert page.count("<tr class=\"sev-row-") == len(document["anomalies"])  # each anomaly once
    assert '<span class="muted entries"> as 4 entries</span>' in page

    # `gate-server check`: a group is one line (its members by kind below it), the rest one line each.
    result = subprocess.run([sys.executable, "-m", "gate_server.cli", "check", "--service", "web",
                             "--baseline", "v1", "--canary", "v2-shell", "--db", sqlite_url],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1, result.stderr
    lines = result.stdout.splitlines()
    assert f"anomalies ({len(document['anomalies'])}, as 4 entries):" in lines
    assert f"  [high] {SHELL_SUMMARY}" in lines
    assert any(line.startswith(f"      [high] {ID} (new exec") for line in lines)
    assert "        syscall: dup2, wait4" in lines and "        syscall (starting it): execve" in lines
    assert f"  [{rates['severity']}] {rates['summary']}" in lines
    assert not any("new syscall dup2" in line or "rate syscall openat" in line for line in lines)
    assert any("new file /var/log/web-debug.log:w" in line for line in lines)

    # The Action's job summary: each group a list entry, then the other anomalies' table;
    # its annotations name a group once, by its summary.
    sys.path.insert(0, str(ACTION_DIR))
    try:
        from gate_client import decision, summary
        markdown = summary.render(decision.decide(document, "pause", "fail"), "", "web", document, "x", "r.json")
    finally:
        sys.path.remove(str(ACTION_DIR))
    assert "### Grouped by cause" in markdown
    assert f"- **high** {summary._cell(SHELL_SUMMARY)}" in markdown
    assert f"  - **high** {summary._cell(ID)} (new exec, started by {summary._cell(SHELL)})" in markdown
    assert f"- **{rates['severity']}** {summary._cell(rates['summary'])}" in markdown
    assert "starting it: <code>execve</code>" in markdown
    others = len(document["anomalies"]) - len(grouped)
    assert f"### Other anomalies ({others})" in markdown
    assert not any(line.startswith("| medium | syscall | <code>dup2") for line in markdown.splitlines())
