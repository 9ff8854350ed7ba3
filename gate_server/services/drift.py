"""Drift: a version judged against its own past, with the same judge as a rollout check.

Nothing is being deployed, yet behaviour moves: a dependency starts calling home, a
cron job forks a shell, Monday's traffic mix differs from Friday's. The recent period
(default the last hour) is the canary; the period just before it (default the seven
days before that) is the baseline. Both are the one version's rollups (one window per
10-minute slot, summed over its hosts: storage/rollups.py), not its stored windows,
which the steady-window bound thins. A window joins the slot of when the server
received it (an uploader could backdate a window into the reference period, where it
would vouch for itself).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from gate_server.analysis.config import GateConfig
from gate_server.analysis.judge import judge
from gate_server.storage.profiles import earlier_start_ups
from gate_server.storage.rollups import load_rollup_profile


@dataclass(frozen=True)
class DriftPeriods:
    reference_since: datetime
    recent_since: datetime  # also where the reference period ends
    until: datetime

    @classmethod
    def ending_at(cls, now: datetime, recent: timedelta, reference: timedelta) -> "DriftPeriods":
        return cls(reference_since=now - recent - reference, recent_since=now - recent, until=now)

    def to_dict(self) -> dict[str, str]:
        return {"reference_since": self.reference_since.isoformat(), "recent_since": self.recent_since.isoformat(),
                "until": self.until.isoformat()}


def judge_drift(session: Session, service: str, version: str, config: GateConfig,
                periods: DriftPeriods) -> dict[str, Any]:
    """The verdict document of `version`'s recent slots against its reference slots."""
    reference, recent = (
        replace(load_rollup_profile(session, service, version, since=since, until=until),
                label=f"{version} in the {name} period ({since.isoformat(timespec='seconds')} to "
                      f"{until.isoformat(timespec='seconds')})")
        for name, since, until in (("reference", periods.reference_since, periods.recent_since),
                                   ("recent", periods.recent_since, periods.until)))
    # A restart in the recent period is vouched for by the version's earlier start-ups, at any age.
    startup_reference = earlier_start_ups(session, service, recent, (version,))
    document = judge(reference, recent, config, startup_reference=startup_reference).to_dict()
    return {"kind": "drift", "service": service, "version": version, "periods": periods.to_dict(), **document}
