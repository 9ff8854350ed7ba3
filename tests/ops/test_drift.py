"""`gate-server drift`: a version's recent windows judged against its own past."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

from gate_server.cli import main
from tests.ops.seed import seed_recording

STEADY = {("syscall", "read"): 2400, ("syscall", "write"): 2100, ("syscall", "epoll_wait"): 900,
          ("syscall", "openat"): 120, ("file", "/srv/app/index.html:r"): 40, ("connect", "inet:10.0.0.5:5432"): 12}
NOW = datetime.now(timezone.utc)


def _seed_history(engine, recent_counts: dict) -> None:
    # "Friday": 40 windows a day ago and two days ago; "Monday": the last 50 minutes. Drift
    # reads 10-minute rollups: windows 10 minutes apart are one slot each.
    for days in (2, 1):
        seed_recording(engine, "web", "v1", [dict(STEADY) for _ in range(20)], start=NOW - timedelta(days=days),
                       step=timedelta(minutes=10))
    seed_recording(engine, "web", "v1", [dict(recent_counts) for _ in range(5)], start=NOW - timedelta(minutes=50),
                   step=timedelta(minutes=10))


def test_a_version_that_starts_spawning_shells_has_drifted(engine, migrated_url, capsys):
    _seed_history(engine, {**STEADY, ("exec", "/bin/sh"): 3, ("file", "/etc/shadow:r"): 2})

    code = main(["drift", "--service", "web", "--version", "v1", "--recent", "1h", "--reference", "7d",
                 "--json", "--db", migrated_url])

    document = json.loads(capsys.readouterr().out)
    assert code == 1 and document["verdict"] == "pause"
    assert {("exec", "/bin/sh"), ("file", "/etc/shadow:r")} <= {(a["kind"], a["key"]) for a in document["anomalies"]}
    assert document["observation"]["baseline"]["windows"] == 40
    assert document["observation"]["canary"]["windows"] == 5


def test_an_unchanged_version_passes(engine, migrated_url, capsys):
    _seed_history(engine, STEADY)

    code = main(["drift", "--service", "web", "--version", "v1", "--db", migrated_url])

    out = capsys.readouterr().out
    assert code == 0, out
    assert "PASS" in out and "reference 40 windows" in " ".join(out.split())


def test_reference_period_ends_where_recent_begins(engine, migrated_url, capsys):
    _seed_history(engine, STEADY)
    # A reference of 1 day (the day before the last hour) holds only the newer 20-window run.
    main(["drift", "--service", "web", "--version", "v1", "--recent", "1h", "--reference", "1d", "--json",
          "--db", migrated_url])
    document = json.loads(capsys.readouterr().out)
    assert document["observation"]["baseline"]["windows"] == 20
    assert document["periods"]["recent_since"] > document["periods"]["reference_since"]


def test_no_recent_windows_is_inconclusive(engine, migrated_url, capsys):
    seed_recording(engine, "web", "v1", [dict(STEADY) for _ in range(20)], start=NOW - timedelta(days=1))
    assert main(["drift", "--service", "web", "--version", "v1", "--db", migrated_url]) == 3
    assert "no windows recorded for v1 in the recent period" in capsys.readouterr().out


def test_bad_duration_and_config_exit_2(engine, migrated_url, tmp_path, capsys):
    assert main(["drift", "--service", "web", "--version", "v1", "--recent", "soon", "--db", migrated_url]) == 2
    assert "invalid duration 'soon'" in capsys.readouterr().err
    bad = tmp_path / "gate.yml"
    bad.write_text("thresholds:\n  pause: lots\n")
    assert main(["drift", "--service", "web", "--version", "v1", "--config", str(bad), "--db", migrated_url]) == 2
    assert "gate.yml" in capsys.readouterr().err


def test_drift_notify_pages_on_call_with_a_drift_event(engine, migrated_url, monkeypatch, capsys):
    from tests.ops.webhook_server import WebhookReceiver

    _seed_history(engine, {**STEADY, ("exec", "/bin/sh"): 3})
    with WebhookReceiver() as receiver:
        monkeypatch.setenv("GATE_WEBHOOK_URLS", receiver.url + "/hook")
        code = main(["drift", "--service", "web", "--version", "v1", "--notify", "--db", migrated_url])
        posts = list(receiver.posts)  # delivered before the command returned

    assert code == 1
    [post] = posts
    assert post["body"]["event"] == "drift.pause" and post["body"]["service"] == "web"
    assert "/bin/sh" in {a["key"] for a in post["body"]["top_anomalies"]}
