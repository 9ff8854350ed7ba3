"""Where the probe's records go: the database (database_destination) or the gate
server over HTTP (server_destination: PUT /api/v1/recordings/..., with an `ingest`
token, for hosts that should not hold database credentials). Both store a
replayed record once, so the spool in front of them (host_probe.delivery.sink) may resend
freely.

A destination raises Unavailable when a record may go through later (spool it and
retry) and Refused when it never will as sent (a token without the right): the
record is still kept, and the operator is told why."""

from __future__ import annotations

from host_probe.errors import Refused, Unavailable

__all__ = ["Refused", "Unavailable", "check_token", "open_destination"]


def check_token(server_url: str, token: str) -> None:
    """An upload needs a token: refused here, before anything is compiled or sent."""
    if server_url and not token:
        raise Refused("uploading to a gate server needs an ingest token in GATE_INGEST_TOKEN "
                      "(made by: gate-server tokens create --scope ingest --service S)")


def open_destination(database_url: str, server_url: str = "", token: str = ""):
    """The gate server when one is named, else the database. Each imports its own
    client only when chosen: a probe loads SQLAlchemy or requests, not both (its
    resident memory is budgeted, docs/benchmarks.md)."""
    check_token(server_url, token)
    if server_url:
        from host_probe.delivery.server_destination import ServerDestination

        return ServerDestination(server_url, token)
    from host_probe.delivery.database_destination import DatabaseDestination

    return DatabaseDestination(database_url)
