"""The spool in front of a destination (host_probe.destinations): every record is
sent in order; while the destination cannot take one, it and every later record
wait in a local spool file (JSON lines), replayed in order before the next send.
Destinations store a replayed record once (keyed by the recording's uuid and the
window's index), so replaying is always safe."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from gate_server.storage.records import RecordingInfo, WindowRecord
from host_probe.errors import Refused, Unavailable


class WindowSink:
    def __init__(self, destination, spool_dir: Path, recording_uuid: str, log=None):
        self.destination = destination
        self.spool_path = Path(spool_dir) / f"{recording_uuid}.jsonl"
        self.log = log or (lambda message: print(message, file=sys.stderr, flush=True))
        self.waiting = False  # records are in the spool; said once, until it drains
        self.pending = 0  # records in the spool file

    def open(self, info: RecordingInfo) -> None:
        """Check the destination and send the recording. A refusal here is raised
        (nothing is recorded yet: the operator fixes the token or schema first);
        an unreachable destination is not (the recording is spooled)."""
        self.destination.check()
        entry = {"type": "recording", "data": info.to_dict()}
        try:
            self.destination.store(entry)  # a fresh uuid: nothing of it is spooled yet
        except Unavailable as exc:
            self._hold(str(exc))
            self._spool(entry)

    def _spool(self, entry: dict) -> None:
        self.spool_path.parent.mkdir(parents=True, exist_ok=True)
        with self.spool_path.open("a") as spool:
            spool.write(json.dumps(entry) + "\n")
        self.pending += 1

    def _hold(self, reason: str) -> None:
        if not self.waiting:
            self.log(f"host-probe: {reason}; spooling windows to {self.spool_path}")
        self.waiting = True

    def replay(self) -> bool:
        """Store what the spool holds; True when nothing is left in it."""
        if not self.spool_path.exists():
            return True
        entries = [json.loads(line) for line in self.spool_path.read_text().splitlines() if line.strip()]
        for done, entry in enumerate(entries):
            try:
                self.destination.store(entry)
            except (Unavailable, Refused) as exc:
                # keep what is not stored yet, in order
                self.spool_path.write_text("".join(json.dumps(e) + "\n" for e in entries[done:]))
                self.pending = len(entries) - done
                self._hold(str(exc))
                return False
        self.spool_path.unlink()
        self.pending = 0
        if self.waiting:
            self.log(f"host-probe: {self.destination.name} is back; replayed {len(entries)} spooled records")
            self.waiting = False
        return True

    def _send(self, entry: dict) -> None:
        if self.replay():
            try:
                self.destination.store(entry)
                return
            except (Unavailable, Refused) as exc:
                self._hold(str(exc))
        self._spool(entry)

    def save_recording(self, info: RecordingInfo) -> None:
        self._send({"type": "recording", "data": info.to_dict()})

    def write_window(self, window: WindowRecord) -> None:
        self._send({"type": "window", "data": window.to_dict()})

    def close(self) -> bool:
        """Last replay attempt; False (with a message) if records remain spooled.
        The destination stays open: other recordings share it."""
        left = not self.replay()
        if left:
            self.log(f"host-probe: {self.destination.name} did not take every record; {self.spool_path} "
                     f"keeps them (`host-probe replay` sends them later)")
        return not left


def replay_spool_dir(destination, spool_dir: Path) -> tuple[int, int]:
    """Replay every spool file in a directory: (files stored, files left)."""
    stored = left = 0
    for path in sorted(Path(spool_dir).glob("*.jsonl")):
        if WindowSink(destination, spool_dir, path.stem, log=lambda _message: None).replay():
            stored += 1
        else:
            left += 1
    destination.close()
    return stored, left
