"""A database outage mid-recording loses no window: windows are spooled while
Postgres is down and replayed, once each, when it is back."""

from __future__ import annotations

from tests.probe.conftest import migrated, read_profile, record_args, record_through_outage


def test_database_outage_loses_no_window(ebpf, own_postgres, tmp_path):
    db_url = migrated(own_postgres.create_database("outage"))
    spool = tmp_path / "spool"
    log = record_through_outage(
        record_args(db_url, spool, "outage", "--", "sh", "-c",
                    "for i in $(seq 35); do cat /etc/hostname >/dev/null; sleep 0.2; done"),
        stop=own_postgres.stop, restart=own_postgres.restart)
    assert "spooling windows" in log
    assert "replayed" in log
    profile = read_profile(db_url, "outage")
    indexes = [w.started_at for w in profile.windows]
    assert len(indexes) >= 6  # 7 s in 1 s windows: none missing, none doubled
    assert len(set(indexes)) == len(indexes)
    assert not list(spool.glob("*.jsonl"))
    assert sum(w.counts.get(("file", "/etc/hostname:r"), 0) for w in profile.windows) >= 20
