"""The spool: a durable queue on local disk between the engine and the sender.

The engine hands each recording's records to its WindowSink, which appends them to
the recording's spool file: writing a window costs the loop one append and one
fsync, whatever the destination is doing. The sender thread (host_probe.delivery.sender)
delivers them. Destinations store a replayed record once (keyed by the recording's
uuid and the window's index), so a record sent twice is stored once.

The spool directory: one append-only JSON-lines file per recording
(`<uuid>.jsonl`), each line fsync'd before the loop goes on, so a window is on
local disk before anyone tries to send it.

Locks (flock, on the spool file itself): the process that writes a recording
holds an exclusive lock on its file for as long as the recording is open and
until the file is delivered and removed. Another process (a second recorder or
agent on the same directory, or `host-probe replay`) takes a file only when its
lock is free, that is when its writer has exited (cleanly, or killed); it holds
the lock while it sends and removes the file. So no file is ever removed under a
writer. The kernel drops a lock with its process, so a `kill -9` leaves no stale
lock behind.

Beside the files: `rejected/` keeps records a destination refused for good (a
413, a constraint violation), and `losses.json` the losses not yet reported by a
window (a set-aside window, the window a killed probe never drained), by
service, version and role; the next window of that identity reports them.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import threading
from pathlib import Path
from typing import Any, Callable, Iterator

from gate_contract.keys import WINDOW_LOSSES
from gate_contract.records import BASELINE, RecordingInfo, WindowRecord
from host_probe.errors import Unavailable

WINDOW_LOST, WINDOW_REJECTED, WINDOW_UNSPOOLED = WINDOW_LOSSES
LEDGER = "losses.json"
REJECTED = "rejected"


class SpoolFull(OSError):
    """The spool's disk took no more: the record was not spooled (and nothing before it was harmed)."""


def _is_record(value: Any) -> bool:
    return (isinstance(value, dict) and value.get("type") in ("recording", "window")
            and isinstance(value.get("data"), dict))


class SpoolFile:
    """One recording's spool file, opened and locked by the process that owns it."""

    def __init__(self, path: Path, fd: int):
        self.path = path
        self.fd = fd
        self.sent = 0          # offset up to which every record is delivered (or set aside)
        self.closed = False    # its writer wrote its last record
        self.pending = 0       # records in it not yet delivered
        self.corrupt_seen = 0  # offset up to which its corrupt lines are counted
        self.info: dict[str, Any] | None = None  # its recording, once known
        self.accepted = False  # the destination took one of its records
        self.refused = ""      # why the destination will not take its recording at all
        self.lock = threading.Lock()  # the writer (the loop) and the sender (its thread) share the fd

    @classmethod
    def create(cls, path: Path) -> "SpoolFile":
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)  # a fresh uuid: nobody else holds it
        return cls(path, fd)

    @classmethod
    def adopt(cls, path: Path) -> "SpoolFile | None":
        """Take a file whose writer has gone; None while a live process holds it (or it is gone)."""
        try:
            fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CLOEXEC)
        except FileNotFoundError:
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        try:
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:  # delivered and removed between our open and our lock
            same = False
        if not same:
            os.close(fd)
            return None
        adopted = cls(path, fd)
        adopted.closed = True  # nobody writes to it any more
        return adopted

    def append(self, record: dict[str, Any]) -> None:
        """Write one line and fsync it. On a full disk, cut back what was written and
        raise SpoolFull: the file ends on a whole line, as before."""
        line = (json.dumps(record) + "\n").encode()
        with self.lock:
            size = os.fstat(self.fd).st_size
            try:
                written = os.write(self.fd, line)
                if written != len(line):
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
                os.fdatasync(self.fd)  # the data and the size a reader needs
            except OSError as exc:
                try:
                    os.ftruncate(self.fd, size)
                except OSError:
                    pass
                raise SpoolFull(exc.errno, exc.strerror or str(exc)) from None

    def size(self) -> int:
        with self.lock:
            return os.fstat(self.fd).st_size

    def lines(self, start: int | None = None) -> Iterator[tuple[int, dict[str, Any] | None]]:
        """(offset after the line, its record or None when it is not one) for each
        complete line from `start` (default: what is not yet sent), parsed as they are
        taken. A last line without its newline is left for later while its writer
        lives, and is a torn line (None) once it is gone."""
        start = self.sent if start is None else start
        with self.lock:
            size = os.fstat(self.fd).st_size
            data = os.pread(self.fd, size - start, start) if size > start else b""
        offset = start
        for raw in data.split(b"\n"):
            if not raw:
                offset += 1
                continue
            complete = offset + len(raw) < start + len(data)  # a newline follows it
            if not complete and not self.closed:
                return
            offset += len(raw) + complete
            try:
                record = json.loads(raw)
            except ValueError:
                record = None
            yield offset, (record if _is_record(record) else None)

    def remove(self) -> None:
        """Unlink, then unlock: a process waiting for the lock finds the file gone."""
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass
        self.release()

    def release(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)  # drops the lock
            self.fd = -1


def identity_key(info: dict[str, Any]) -> str:
    return json.dumps([info.get("service"), info.get("version"), info.get("role", BASELINE)])


class LossLedger:
    """Losses waiting for the next window of their service, version and role, in
    `losses.json` of the spool directory (under a lock: several processes may add)."""

    def __init__(self, spool_dir: Path):
        self.path = Path(spool_dir) / LEDGER
        self.memory: dict[str, dict[str, int]] = {}  # what could not be written (a full disk)
        self.guard = threading.Lock()

    def _update(self, change: Callable[[dict], Any]) -> Any:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            text = os.pread(fd, os.fstat(fd).st_size, 0)
            try:
                ledger = json.loads(text) if text.strip() else {}
            except ValueError:
                ledger = {}
            answer = change(ledger)
            data = json.dumps(ledger).encode() if ledger else b""
            os.ftruncate(fd, 0)
            if data:
                os.pwrite(fd, data, 0)
                os.fsync(fd)
            return answer
        finally:
            os.close(fd)

    def add(self, identity: str, reason: str, count: int) -> None:
        def change(ledger: dict) -> None:
            losses = ledger.setdefault(identity, {})
            losses[reason] = losses.get(reason, 0) + max(1, int(count))

        with self.guard:
            try:
                self._update(change)
            except OSError:  # the spool's disk is full: keep it in memory for this process
                losses = self.memory.setdefault(identity, {})
                losses[reason] = losses.get(reason, 0) + max(1, int(count))

    def claim(self, identity: str) -> dict[str, int]:
        """The losses waiting for this identity, removed from the ledger."""
        with self.guard:
            claimed = self.memory.pop(identity, {})
            if self.path.exists():
                try:
                    found = self._update(lambda ledger: ledger.pop(identity, {}))
                except OSError:
                    found = {}
                for reason, count in found.items():
                    claimed[reason] = claimed.get(reason, 0) + int(count)
            return claimed

    def give_back(self, identity: str, losses: dict[str, int]) -> None:
        for reason, count in losses.items():
            self.add(identity, reason, count)


def set_aside(spool_dir: Path, record: dict[str, Any], reason: str) -> Path:
    """Keep a record the destination refused for good, with why, in rejected/."""
    folder = Path(spool_dir) / REJECTED
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    data = record["data"]
    name = data.get("uuid") or data.get("recording_uuid") or "unknown"
    path = folder / f"{name}.jsonl"
    # what the workload did (paths, addresses, programs): as private as the spool it came from
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
    with os.fdopen(fd, "a") as out:
        out.write(json.dumps({**record, "refused": reason}) + "\n")
    return path


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
