"""Suppressions: anomalies a person acknowledged for a while. A suppressed anomaly is
still listed, marked with who suppressed it and why, but no longer counts toward the
verdict. This module is the one place that decides which anomalies are suppressed;
the judge scores only the others.

A pattern has the syntax of the config's allow list for its kind (patterns.py): path
globs for `file` and `exec`, CIDR:port / unix:<glob> for `connect`, `listen` and
`bind`, a name glob (fnmatch) for the rest. A key is the canary's to choose (a file
named `/*`), so a key becomes a pattern only escaped (`literal_pattern`), and unless
the operator allows globs a pattern must be literal: it matches one key, never more.
No suppression lowers what an operator's floor forbids: an anomaly counted against a
floored limit counts whatever a suppression says.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Collection, Iterable, Optional

from gate_server.analysis.patterns import check_glob, key_matcher, parse_destination
from gate_server.analysis.verdict import Anomaly, SuppressedBy
from gate_contract.keys import FILE_MODES, UNIX, parse_address
from gate_contract.kinds import ADDRESS_KINDS, BY_NAME, KINDS, PATH_KINDS

if TYPE_CHECKING:
    from gate_server.analysis.rules import Rules


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
        return kind == self.kind and key_matcher(kind, [self.pattern])(key)


GLOB_CHARACTERS = re.compile(r"([*?\[])")
# One escaped character ('[*]'), read as that character.
ESCAPED_CHARACTER = re.compile(r"\[([^\]!])\]")


def literal_pattern(kind: str, key: str) -> str:
    """The pattern that matches `key` alone: glob characters escaped ('/*:r' -> '/[*]:r'),
    an address as its own host and port."""
    if kind in ADDRESS_KINDS:
        address = parse_address(key)
        return "unix:" + _escaped(address.path or "") if address.family == UNIX else key
    return _escaped(key)


def _escaped(text: str) -> str:
    return GLOB_CHARACTERS.sub(r"[\1]", text)


def is_literal(kind: str, pattern: str) -> bool:
    """Whether the pattern matches one key only (escaped glob characters are literal)."""
    if kind in ADDRESS_KINDS and not pattern.startswith("unix:"):
        destination = parse_destination(pattern)
        single_host = destination.network is not None and \
            destination.network.prefixlen == destination.network.max_prefixlen
        return single_host and destination.port_low == destination.port_high
    return GLOB_CHARACTERS.search(ESCAPED_CHARACTER.sub("", pattern)) is None


def check_pattern(kind: str, pattern: str, *, globs_allowed: bool = False) -> str:
    """Validate a suppression's pattern for its kind; raises ValueError with the reason."""
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}: choose one of {', '.join(KINDS)}")
    pattern = (pattern or "").strip()
    if not pattern:
        raise ValueError("the pattern must not be empty")
    if kind in PATH_KINDS:
        check_glob(pattern)
    elif kind in ADDRESS_KINDS:
        parse_destination(pattern)
    if not globs_allowed and not is_literal(kind, pattern):
        raise ValueError(f"{pattern!r} matches more than one key, and this server suppresses literal keys only "
                         "(escape glob characters as [*], [?], [[]; an operator allows globs with "
                         "GATE_SUPPRESSION_GLOBS=1)")
    return pattern


def limits_reached(kind: str, pattern: str, rules: "Rules") -> set[str]:
    """The limits an anomaly this pattern matches would count against, as `rules` weigh
    them (the operator's floors over the defaults): for a literal pattern, its key's (a
    file pattern without a mode, its read's and its write's); for a glob, every limit of
    its kind's rules (it may match any key of the kind)."""
    if not is_literal(kind, pattern):
        return {rule.limit for rule in BY_NAME[kind].rules if rule.limit}
    key = ESCAPED_CHARACTER.sub(r"\1", pattern)
    keys = [key]
    if kind == "file" and key.rpartition(":")[2] not in FILE_MODES:
        keys = [f"{key}:r", f"{key}:w"]
    return {rules.new_feature(kind, each).limit for each in keys} - {None}


def check_matches_key(kind: str, pattern: str, key: str) -> None:
    """A suppression made from an acknowledgement must cover the acknowledged key."""
    probe = ActiveSuppression(id=0, kind=kind, pattern=pattern, by="", reason="", expires="")
    if not probe.matches(kind, key):
        raise ValueError(f"{pattern!r} does not match the acknowledged key {key!r} "
                         f"(its literal pattern is {literal_pattern(kind, key)!r})")


def mark_suppressed(anomalies: Iterable[Anomaly], suppressions: Iterable[ActiveSuppression],
                    floored_limits: Collection[str] = ()) -> tuple[list[Anomaly], list[str]]:
    """Mark each anomaly a suppression matches (the oldest matching one), except those counted
    against a limit in `floored_limits` (the operator's floors); returns (the anomalies that
    still count, a note per floor that kept a matched anomaly counting)."""
    suppressions = sorted(suppressions, key=lambda s: s.id)
    counted, kept_by_floor = [], {}
    for anomaly in anomalies:
        found: Optional[ActiveSuppression] = next(
            (s for s in suppressions if s.matches(anomaly.kind, anomaly.key)), None)
        if found is not None and anomaly.limit in floored_limits:
            kept_by_floor.setdefault(anomaly.limit, []).append(anomaly.key)
            found = None
        if found is None:
            counted.append(anomaly)
        else:
            anomaly.suppressed = SuppressedBy(id=found.id, by=found.by, reason=found.reason, expires=found.expires)
    notes = [f"{keys} match a suppression but are not suppressed: limits.{limit} is the operator's floor, "
             "which no suppression lowers" for limit, keys in kept_by_floor.items()]
    return counted, notes
