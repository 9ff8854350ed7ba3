"""A recording's sink: every record goes to the recording's spool file first
(local, fsync'd: host_probe.delivery.spool), and the sender thread (host_probe.delivery.sender)
delivers it to the destination. Writing a window costs the loop one append and
one fsync, whatever the destination is doing. Destinations store a replayed
record once (keyed by the recording's uuid and the window's index), so a record
sent twice is stored once."""

from __future__ import annotations

from pathlib import Path

from gate_contract.records import RecordingInfo, WindowRecord
from host_probe.errors import Unavailable
from host_probe.delivery.spool import WINDOW_UNSPOOLED, SpoolFile, SpoolFull, identity_key


class WindowSink:
    def __init__(self, sender, spool_dir: Path, recording_uuid: str, log):
        self.sender = sender
        self.spool_path = Path(spool_dir) / f"{recording_uuid}.jsonl"
        self.log = log
        self.file: SpoolFile | None = None
        self.info: RecordingInfo | None = None
        self.recording_spooled = True
        self.unspooled: dict[str, int] = {}  # losses of windows a full disk did not take

    @property
    def pending(self) -> int:
        return self.file.pending if self.file else 0

    def open(self, info: RecordingInfo, store_first: bool = False) -> None:
        """Start the recording's spool file. With `store_first`, the recording is
        stored now, from this thread: a refusal (a token without the right) raises
        here, before anything is counted; an unreachable destination does not."""
        self.info = info
        entry = {"type": "recording", "data": info.to_dict()}
        self.file = SpoolFile.create(self.spool_path)
        self.file.info = entry["data"]
        stored = False
        if store_first:
            try:
                self.sender.store_now(entry)
                stored = True
            except Unavailable:
                pass
            except BaseException:
                self.file.remove()
                raise
        # Spooled even when stored: whoever adopts the file after a kill -9 learns from
        # it whose windows these are.
        self.recording_spooled = False
        self.file.accepted = stored
        if self._spool(entry) and stored:
            self.file.sent, self.file.pending = self.file.size(), 0
        self.sender.track(self.file)

    def _spool(self, entry: dict) -> bool:
        try:
            self.file.append(entry)
        except SpoolFull as exc:
            if not self.sender.said_full:
                self.sender.said_full = True
                self.log(f"host-probe: the spool {self.spool_path.parent} is full ({exc.strerror}): windows that do "
                         f"not fit are lost and counted ({WINDOW_UNSPOOLED}); what is spooled is kept")
            return False
        if entry["type"] == "recording":
            self.recording_spooled = True
        self.file.pending += 1
        self.sender.wake.set()
        return True

    def losses(self) -> dict[str, int]:
        """Losses to report in this recording's next window: its own windows the
        disk did not take, and what the ledger holds for its service and version."""
        claimed, self.unspooled = self.unspooled, {}
        for reason, count in self.sender.ledger.claim(identity_key(self.file.info)).items():
            claimed[reason] = claimed.get(reason, 0) + count
        return claimed

    def give_back(self, losses: dict[str, int]) -> None:
        """Losses a window could not carry (it was not spooled): for the next one."""
        for reason, count in losses.items():
            self.unspooled[reason] = self.unspooled.get(reason, 0) + count

    def save_recording(self, info: RecordingInfo) -> None:
        self.info = info
        self._spool({"type": "recording", "data": info.to_dict()})

    def write_window(self, window: WindowRecord) -> bool:
        if not self.recording_spooled:  # a full disk took no recording yet: its windows need one first
            self._spool({"type": "recording", "data": self.info.to_dict()})
        if self.recording_spooled and self._spool({"type": "window", "data": window.to_dict()}):
            return True
        lost = max(1, window.events_total)
        self.unspooled[WINDOW_UNSPOOLED] = self.unspooled.get(WINDOW_UNSPOOLED, 0) + lost
        return False

    def close(self) -> None:
        """No more records: the sender removes the file once it has delivered it."""
        self.file.closed = True
        self.sender.wake.set()
