"""Suppressions: anomalies a person acknowledged for a while. A suppressed anomaly is
still listed, marked with who suppressed it and why, but no longer counts toward the
verdict. This module is the one place that decides which anomalies are suppressed;
the judge scores only the others.

A pattern has the syntax of the config's allow list for its kind (patterns.py): path
globs for `file` and `exec`, CIDR:port / unix:<glob> for `connect`, `listen` and
`bind`, a name glob (fnmatch) for the rest.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from typing import Iterable, Optional

from gate_server.analysis.patterns import DestinationSet, GlobSet, check_glob, parse_destination
from gate_server.analysis.verdict import Anomaly, SuppressedBy
from gate_contract.keys import parse_file_key
from gate_contract.kinds import ADDRESS_KINDS, KINDS, PATH_KINDS


@dataclass(frozen=True)
class ActiveSuppression:
    """One suppression in force for the service being judged."""

    id: int
    kind: str
    pattern: str
    by: str
    reason: str
    expires: str  # ISO 8601 UTC

    def matches(self, kind: str, key: str) -> bool:
        if kind != self.kind:
            return False
        if kind == "file":
            globs = GlobSet([self.pattern])
            return globs.matches(parse_file_key(key).path) or globs.matches(key)
        if kind in PATH_KINDS:
            return GlobSet([self.pattern]).matches(key)
        if kind in ADDRESS_KINDS:
            return DestinationSet([self.pattern]).matches(key)
        return fnmatch.fnmatchcase(key, self.pattern)


def check_pattern(kind: str, pattern: str) -> str:
    """Validate a suppression's pattern for its kind; raises ValueError with the reason."""
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}: choose one of {', '.join(KINDS)}")
    pattern = (pattern or "").strip()
    if not pattern:
        raise ValueError("the pattern must not be empty")
    if kind in PATH_KINDS:
        return check_glob(pattern)
    if kind in ADDRESS_KINDS:
        parse_destination(pattern)
    return pattern


def mark_suppressed(anomalies: Iterable[Anomaly], suppressions: Iterable[ActiveSuppression]) -> list[Anomaly]:
    """Mark each anomaly a suppression matches (the oldest matching one); returns those that still count."""
    suppressions = sorted(suppressions, key=lambda s: s.id)
    counted = []
    for anomaly in anomalies:
        found: Optional[ActiveSuppression] = next(
            (s for s in suppressions if s.matches(anomaly.kind, anomaly.key)), None)
        if found is None:
            counted.append(anomaly)
        else:
            anomaly.suppressed = SuppressedBy(id=found.id, by=found.by, reason=found.reason, expires=found.expires)
    return counted
