"""The queries that read stored windows' counts documents outside a check (models.Window,
Feature): what the seccomp export learns from. Read only."""

from __future__ import annotations

from typing import Iterator, Optional

from sqlalchemy import select
from sqlalchemy.orm import Session

from gate_contract.models import Feature, Recording, Service, Window

# Window documents read per round trip: a version's windows are streamed, never held all at once.
WINDOWS_PER_FETCH = 500


def syscall_names(session: Session) -> dict[int, str]:
    """Feature id -> syscall name: a few hundred entries of the dictionary, whatever the fleet's size."""
    return dict(session.execute(select(Feature.id, Feature.key).where(Feature.kind == "syscall")).all())


def counts_documents(session: Session, service: str, version: str) -> Iterator[Optional[str]]:
    """The counts document of every window of `service` at `version` (all recordings), streamed."""
    return session.execute(
        select(Window.counts)
        .join(Recording, Window.recording_id == Recording.id)
        .join(Service, Recording.service_id == Service.id)
        .where(Service.name == service, Recording.version == version)
        .execution_options(yield_per=WINDOWS_PER_FETCH)
    ).scalars()
