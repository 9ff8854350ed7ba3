"""Files a workload first opens for writing once its start-up is over, and keeps open.

The inventory taken when a workload's start-up span ends (engine._inventory_after_startup)
shows what it opened while starting and still holds: a log switched on at start-up is a
standing change for the judge (gate_server/analysis/startup.py). A file first opened for
writing later — a logger that opens its file at its first line, a journal opened on
first use — is counted once, in the window that opened it, and the judge cannot tell it
from a one-off write (issue 23). So a write-mode file key the recording has not counted
before is a candidate; held at the drain of the window that opened it and still held at
the next drain, it is listed in the next window's inventory, as held while serving. Two
looks, so a file open for an instant at one drain (a temporary file) is not taken for
one kept open; /proc is read only while a candidate is pending.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

from gate_contract.keys import FeatureKey, parse_file_key


# Bounded like every table of the probe: past this many distinct write-mode keys in one
# recording (names that normalisation does not fold, a file per request), no new candidate.
MAX_COUNTED = 4096


def write_opens(features: Iterable[FeatureKey]) -> set[FeatureKey]:
    return {key for key in features if key[0] == "file" and "w" in parse_file_key(key[1]).mode}


@dataclass
class LateWrites:
    counted: set[FeatureKey] = field(default_factory=set)  # write-mode file keys counted so far
    pending: set[FeatureKey] = field(default_factory=set)  # held at the last drain: to look at again

    def new_opens(self, features: Iterable[FeatureKey]) -> set[FeatureKey]:
        """The write-mode file keys of a window not counted in an earlier one."""
        if len(self.counted) >= MAX_COUNTED:
            return set()
        opened = write_opens(features) - self.counted
        self.counted |= opened
        return opened

    def needs_a_look(self, opened: set[FeatureKey]) -> bool:
        return bool(opened or self.pending)

    def still_held(self, opened: set[FeatureKey], held: Iterable[FeatureKey]) -> set[FeatureKey]:
        """Of the keys pending since the last drain, those held now (held while serving);
        the keys just opened and held now are pending until the next drain."""
        held = set(held)
        confirmed, self.pending = self.pending & held, opened & held
        return confirmed

    def forget_pending(self) -> None:
        self.pending = set()
