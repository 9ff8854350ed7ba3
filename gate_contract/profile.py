"""What the judge takes: profiles made of windows of per-feature counts.

Pure data, built by `gate_server.storage.profiles` from the database or by tests
from literals. No Flask, no SQL. In the contract so that the server's storage builds
what the judge reads without importing the judge.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Optional

from gate_contract.keys import EVENT_STREAM_LOSSES, FeatureKey


def as_utc(moment: datetime) -> datetime:
    """A stored time with its zone: SQLite gives it back without, and every stored time is UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


@dataclass(frozen=True)
class ProgramFacts:
    """Lineage of a window (records.ProgramActivity): what the processes running one
    program made, and which programs exec'd it."""

    program: str  # its exec key
    started_by: frozenset[str] = frozenset()
    features: frozenset[FeatureKey] = frozenset()


@dataclass(frozen=True)
class WindowCounts:
    counts: dict[FeatureKey, int]
    syscalls_total: int
    events_total: int = 0
    sample_every: int = 1
    drops: dict[str, int] = field(default_factory=dict)
    started_at: Optional[datetime] = None
    ended_at: Optional[datetime] = None
    # The window covers the first seconds after a process of the workload started (exec).
    startup: bool = False
    # Features the processes already held when the recording attached (from /proc): seen
    # in this recording, not counts of this window (never rates, never "missing").
    inventory: frozenset[FeatureKey] = frozenset()
    # Feature kind -> the kernel hook that produced it (empty: the probe did not say).
    hooks: dict[str, str] = field(default_factory=dict)
    # When the workload's oldest process started (records.WindowRecord.workload_started_at);
    # None: not said. The window's age is ended_at minus it (ages.py).
    workload_started_at: Optional[datetime] = None
    # Lineage, per program seen exec'd (empty: a probe that did not say, or none seen exec)
    programs: tuple[ProgramFacts, ...] = ()
    # Of the programs' features, those processes the probe never saw exec also made
    unnamed: frozenset[FeatureKey] = frozenset()

    @property
    def age_s(self) -> Optional[float]:
        """The workload's age at the window's end, in seconds; None when either time is unknown."""
        if self.workload_started_at is None or self.ended_at is None:
            return None
        return max((as_utc(self.ended_at) - as_utc(self.workload_started_at)).total_seconds(), 0.0)

    @property
    def lost(self) -> int:
        """Losses of the profile: the event stream's drops (record -v) leave every count intact."""
        return sum(n for reason, n in self.drops.items() if reason not in EVENT_STREAM_LOSSES)


@dataclass(frozen=True)
class Profile:
    service: str
    version: str
    windows: list[WindowCounts]
    # What the windows are of, in the judge's words ("v1 in the recent period (...)");
    # empty: "<side> version <version>".
    label: str = ""

    @property
    def syscalls_total(self) -> int:
        return sum(w.syscalls_total for w in self.windows)

    @property
    def events_total(self) -> int:
        return sum(w.events_total for w in self.windows)

    @property
    def lost_total(self) -> int:
        return sum(w.lost for w in self.windows)

    def features(self) -> set[FeatureKey]:
        return {key for w in self.windows for key in w.counts}

    def inventory(self) -> frozenset[FeatureKey]:
        """Every feature an inventory of these windows holds."""
        return frozenset().union(*(w.inventory for w in self.windows))

    @property
    def startup_windows(self) -> int:
        return sum(1 for w in self.windows if w.startup)
