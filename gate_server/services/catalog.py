"""What has been recorded: services, and per version the recordings, windows, syscalls and losses."""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Iterable

from sqlalchemy.orm import Session

from gate_server.analysis.observation import loss_ratio
from gate_server.services.errors import NotFound
from gate_server.storage import catalog as stored
from gate_contract.models import Recording, Window, isoformat_utc


def service_id(session: Session, name: str) -> int:
    found = stored.service_id(session, name)
    if found is None:
        raise NotFound(f"service {name!r} is unknown: nothing has been recorded for it yet", field="service")
    return found


def list_services(session: Session, visible: Iterable[str] | None = None) -> list[dict[str, Any]]:
    """Services (optionally only the named ones) with their versions and last window time."""
    return [
        {"name": name, "versions": int(versions), "last_window_at": isoformat_utc(last)}
        for name, versions, last in stored.services_overview(session, visible)
    ]


EMPTY_TOTALS = {"windows": 0, "syscalls": 0, "events": 0, "lost": 0, "first": None, "last": None,
                "first_received": None, "last_received": None}


def window_totals(session: Session, sid: int, group_by) -> dict[Any, dict[str, Any]]:
    """Window figures of one service, grouped by a column (Recording.version, Window.recording_id):
    windows, syscalls, events, lost, the time span (as the uploader says) and when the server
    received the first and the last of them."""
    totals = {
        key: {"windows": int(windows), "syscalls": int(syscalls), "events": int(events), "lost": 0,
              "first": first, "last": last, "first_received": first_received, "last_received": last_received}
        for key, windows, syscalls, events, first, last, first_received, last_received
        in stored.window_figures(session, sid, group_by)
    }
    # Drops are a JSON object per window ({category: n}); summed here to stay portable across dialects.
    for key, drops in stored.window_drops(session, sid, group_by):
        totals[key]["lost"] += sum(int(n) for n in (drops or {}).values())
    return totals


def versions_summary(session: Session, service: str) -> list[dict[str, Any]]:
    """Per version: recordings, roles, windows, syscalls, events, losses and the time span, newest first."""
    sid = service_id(session, service)
    recordings = stored.recordings_per_version(session, sid)
    roles: dict[str, set[str]] = defaultdict(set)
    for version, role in stored.version_roles(session, sid):
        roles[version].add(role)
    totals = window_totals(session, sid, Recording.version)

    summary = []
    for version, recording_count, first_recording in recordings:
        row = totals.get(version, EMPTY_TOTALS)
        windows, syscalls, events, lost = row["windows"], row["syscalls"], row["events"], row["lost"]
        first, last = row["first"], row["last"]
        summary.append({
            "version": version,
            "recordings": int(recording_count),
            "roles": sorted(roles[version]),
            "windows": int(windows),
            "syscalls": syscalls,
            "events": events,
            "lost": lost,
            "loss_ratio": loss_ratio(events, lost),
            "first_window_at": isoformat_utc(first),
            "last_window_at": isoformat_utc(last),
            # the server's clock, where the window times above are the uploader's
            "first_received_at": isoformat_utc(row["first_received"]),
            "last_received_at": isoformat_utc(row["last_received"]),
            "_sort": first or first_recording,
        })
    summary.sort(key=lambda row: row["_sort"], reverse=True)
    for row in summary:
        del row["_sort"]
    return summary


def recordings_by_version(session: Session, service: str) -> dict[str, list[dict[str, Any]]]:
    """Per version, newest first: each recording's windows, syscalls, events, losses and sampling."""
    sid = service_id(session, service)
    totals = window_totals(session, sid, Window.recording_id)
    grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for recording in stored.recordings_newest_first(session, sid):
        row = totals.get(recording.id, EMPTY_TOTALS)
        grouped[recording.version].append({
            "uuid": recording.uuid, "role": recording.role, "host": recording.host, "scope": recording.scope,
            "kernel": recording.kernel, "started_at": recording.started_at, "ended_at": recording.ended_at,
            "windows": row["windows"], "syscalls": row["syscalls"], "events": row["events"], "lost": row["lost"],
            "loss_ratio": loss_ratio(row["events"], row["lost"]),
            "sample_every": recording.sample_every, "rate_limit": recording.rate_limit,
        })
    return dict(grouped)
