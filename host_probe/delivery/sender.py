"""The sender: a thread that delivers spooled records to the destination, so a
hung server, a lock wait in Postgres or a slow SQLite commit never holds up the
loop that drains the kernel's maps and polls discovery.

The loop only appends each record to its recording's spool file (fsync'd,
host_probe.delivery.spool); this thread sends them in order, file by file, the
windows of a file in batches of up to BATCH_WINDOWS (one request: a spool an outage
filled drains in a few), one by one where the destination has no batch. While the
destination is away (Unavailable) or will not let us in (Refused: a token),
it retries with backoff (0.5 s doubling to 10 s). A record refused for good
(Rejected: a 413, a constraint violation) is set aside in rejected/ and its
events counted as lost in the next window of its service and version; the
records after it go on.

On stop it makes one last pass, for at most a grace period; what the
destination did not take stays in the spool for the next start (which adopts
files no live process holds) or `host-probe replay`.
"""

from __future__ import annotations

import random
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

from host_probe.delivery.destinations import BatchUnsupported, Refused, Rejected, Unavailable
from gate_contract.records import BASELINE
from host_probe.settings import BATCH_WINDOWS  # well under the server's cap (GATE_MAX_BATCH_WINDOWS)
from host_probe.delivery.spool import WINDOW_LOST, WINDOW_REJECTED, LossLedger, SpoolFile, identity_key, set_aside

BACKOFF_FIRST_S, BACKOFF_MAX_S = 0.5, 10.0
# A batch's spooled JSON at most, though fewer than batch_windows: a quarter of the server's
# default body limit (GATE_MAX_INGEST_BYTES, 32 MiB, counted inflated), for windows of many keys.
BATCH_BYTES = 8 << 20
DONE, HELD, AWAY = "done", "held", "away"  # a file's delivery: all sent; the token refused; the destination away
ADOPT_EVERY_S = 60.0
SWITCH_INTERVAL_S = 0.00025  # how often files of exited probes are looked for


class Sender(threading.Thread):
    def __init__(self, destination, spool_dir: Path, log: Callable[[str], None], ledger: LossLedger,
                 batch_windows: int = BATCH_WINDOWS):
        super().__init__(name="host-probe-sender", daemon=True)  # never keeps a stopped probe alive
        self.destination = destination
        self.batch_windows = batch_windows  # spooled windows of a file sent in one request (1: one by one)
        self.spool_dir = Path(spool_dir)
        self.log = log
        self.ledger = ledger
        self.files: list[SpoolFile] = []
        self.files_lock = threading.Lock()
        self.destination_lock = threading.Lock()
        self.wake = threading.Event()
        self.loop_idle = threading.Event()  # cleared by the engine while it drains
        self.loop_idle.set()
        self.stopping = False
        self.waiting = False        # the destination is away: said once, until it is back
        self.delivered_while_waiting = 0
        self.corrupt_lines = 0      # spool lines skipped (torn or not a record)
        self.rejected = 0           # records set aside in rejected/
        self.delivered_files = 0
        self.said_full = False      # the spool's disk is full: said once
        self.next_adopt = 0.0
        self.held = False           # the last record was refused by the token (not the destination away)
        # Told (recording uuid, reason) when a recording's first record is refused (a
        # token that does not cover its service): the agent stops watching it.
        self.on_refused: Callable[[str, str], None] | None = None

    # -- what the loop calls ---------------------------------------------------
    def track(self, spool_file: SpoolFile) -> None:
        with self.files_lock:
            self.files.append(spool_file)
        self.wake.set()

    def store_now(self, record: dict) -> None:
        """Store one record from the caller's thread (a recording's first record, so a
        token that may not upload stops `record` before it attaches)."""
        with self.destination_lock:
            self.destination.store(record)

    @contextmanager
    def paused(self) -> Iterator[None]:
        """While the loop drains and writes a window, no record is started: each of the
        drain's many syscalls (bpf, /proc) gives up the GIL, and a busy sender would make
        it wait to take it back every time (a convoy: seconds per window at K = 32)."""
        self.loop_idle.clear()
        try:
            yield
        finally:
            self.loop_idle.set()

    def pending(self) -> int:
        with self.files_lock:
            return sum(f.pending for f in self.files)

    def stop(self, grace_s: float) -> int:
        """One last pass, for at most `grace_s`; the records left in the spool."""
        self.stopping = True
        self.wake.set()
        if self.is_alive():
            self.join(grace_s)
        else:
            self.deliver()
        return self.pending()

    # -- the thread ------------------------------------------------------------
    def start(self) -> None:
        # The loop's syscalls each give up the GIL; while this thread computes, taking it
        # back waits up to the switch interval (5 ms by default). 0.25 ms keeps a loop
        # of many syscalls (a discovery walk of /sys/fs/cgroup) from waiting seconds.
        sys.setswitchinterval(SWITCH_INTERVAL_S)
        super().start()

    def run(self) -> None:
        backoff = 0.0
        while True:
            if time.monotonic() >= self.next_adopt:
                self.adopt_orphans()
            self.wake.clear()
            delivered = self.deliver()
            if self.stopping:
                if delivered:  # a pass begun after the stop was asked sees every last record
                    self.deliver()
                return
            if delivered:
                backoff = 0.0
                self.wake.wait(ADOPT_EVERY_S)
            else:
                backoff = min(BACKOFF_MAX_S, max(BACKOFF_FIRST_S, backoff * 2))
                self.wake.wait(backoff * random.uniform(0.8, 1.2))  # jitter: many hosts, one server

    def deliver(self) -> bool:
        """Send what every file holds, in order; False when the destination is away (the
        pass stops there) or refuses our token for some file (that file waits, the
        others go on)."""
        with self.files_lock:
            files = list(self.files)
        held = False
        for spool_file in files:
            outcome = self._deliver_file(spool_file)
            if outcome == AWAY:
                return False
            held = held or outcome == HELD
            if outcome == DONE and spool_file.closed and spool_file.sent >= spool_file.size():
                spool_file.remove()
                self.delivered_files += 1
                with self.files_lock:
                    self.files.remove(spool_file)
        if self.waiting and not held:
            self.log(f"host-probe: {self.destination.name} is back; replayed {self.delivered_while_waiting} "
                     "spooled records")
            self.waiting, self.delivered_while_waiting = False, 0
        return not held

    def _deliver_file(self, spool_file: SpoolFile) -> str:
        corrupt = 0
        batch: list[tuple[int, dict]] = []  # windows read, not yet sent: (offset after the line, record)
        previous = first = spool_file.sent  # where the line read begins; where the batch's first line begins
        try:
            for end, record in spool_file.lines():
                begins, previous = previous, end
                batched = (record is not None and record["type"] == "window" and self.batch_windows > 1
                           and not spool_file.refused)
                if batched:
                    if not batch:
                        first = begins
                    batch.append((end, record))
                    if len(batch) < self.batch_windows and end - first < BATCH_BYTES:
                        continue
                # `sent` moves on only past what was delivered: the batch goes before anything after it
                outcome = self._deliver_batch(spool_file, batch)
                if outcome != DONE:
                    return outcome
                if batched:
                    continue  # it went with the batch
                if record is None:
                    if end > spool_file.corrupt_seen:
                        spool_file.corrupt_seen = end
                        corrupt += 1
                elif not self._deliver_record(spool_file, record):
                    return AWAY if not self.held else HELD
                spool_file.sent = end
            return self._deliver_batch(spool_file, batch)
        finally:
            if corrupt:
                self.corrupt_lines += corrupt
                self.log(f"host-probe: skipped {corrupt} corrupt line{'s' if corrupt > 1 else ''} in "
                         f"{spool_file.path} (torn or not a record; counted in spool_corrupt_lines)")

    def _deliver_batch(self, spool_file: SpoolFile, batch: list[tuple[int, dict]]) -> str:
        """Send the windows read so far in one request; empties `batch`. A batch the
        destination rejects is all or nothing, so its windows are then sent one by one:
        only the window it will not take is set aside."""
        entries, batch[:] = list(batch), []
        if len(entries) > 1:
            self.held = False
            self.loop_idle.wait()
            try:
                with self.destination_lock:
                    self.destination.store_windows([record for _, record in entries])
            except Unavailable as exc:
                self._hold(str(exc))
                return AWAY
            except BatchUnsupported as exc:
                self.batch_windows = 1
                self.log(f"host-probe: {self.destination.name} takes no batch ({exc}); sending windows one by one")
            except Rejected:
                pass  # some window of it: each alone says which
            except Refused as exc:  # the token: the file waits for a new one
                self._hold(str(exc))
                self.held = True
                return HELD
            else:
                spool_file.accepted = True
                if self.waiting:
                    self.delivered_while_waiting += len(entries)
                spool_file.pending = max(0, spool_file.pending - len(entries))
                spool_file.sent = entries[-1][0]
                return DONE
        for end, record in entries:
            if not self._deliver_record(spool_file, record):
                return AWAY if not self.held else HELD
            spool_file.sent = end
        return DONE

    def _deliver_record(self, spool_file: SpoolFile, record: dict) -> bool:
        """Store (or set aside) one record; False when the file must wait."""
        self.held = False
        self.loop_idle.wait()
        if record["type"] == "recording" and spool_file.info is None:
            spool_file.info = record["data"]
        if spool_file.refused:  # a recording the token may not write: none of its records go
            set_aside(self.spool_dir, record, spool_file.refused)
        else:
            try:
                self.store_now(record)
                spool_file.accepted = True
            except Unavailable as exc:
                self._hold(str(exc))
                return False
            except Rejected as exc:
                self._set_aside(spool_file, record, str(exc))
            except Refused as exc:
                if spool_file.accepted or record["type"] != "recording" or self.on_refused is None:
                    self._hold(str(exc))  # a token revoked mid-recording: wait for a new one
                    self.held = True
                    return False
                self._refuse_recording(spool_file, record, str(exc))
        if self.waiting:
            self.delivered_while_waiting += 1
        spool_file.pending = max(0, spool_file.pending - 1)
        return True

    def _refuse_recording(self, spool_file: SpoolFile, record: dict, reason: str) -> None:
        """The destination will not take this recording at all (the token does not cover
        its service): its records are set aside and its owner told, once."""
        spool_file.refused = reason
        set_aside(self.spool_dir, record, reason)
        self.on_refused(record["data"]["uuid"], reason)

    def _hold(self, reason: str) -> None:
        if not self.waiting:
            self.log(f"host-probe: {reason}; spooling windows in {self.spool_dir} until it takes them")
        self.waiting = True

    def _set_aside(self, spool_file: SpoolFile, record: dict, reason: str) -> None:
        path = set_aside(self.spool_dir, record, reason)
        self.rejected += 1
        data = record["data"]
        if record["type"] == "window":
            info = spool_file.info or {}
            self.ledger.add(identity_key(info), WINDOW_REJECTED, int(data.get("events_total", 0)))
            what = f"window {data.get('index')} of {info.get('service')} {info.get('version')}"
        else:
            what = f"recording {data.get('uuid')} of {data.get('service')} {data.get('version')}"
        self.log(f"host-probe: {self.destination.name} refused {what} for good ({reason}); set aside in {path}, "
                 f"counted as lost ({WINDOW_REJECTED}) in the next window")

    # -- files of probes that have exited --------------------------------------
    def adopt_orphans(self) -> int:
        """Take every spool file no live process holds; count a killed recording's
        unwritten window as lost. Returns the files adopted."""
        self.next_adopt = time.monotonic() + ADOPT_EVERY_S
        with self.files_lock:
            owned = {f.path for f in self.files}
        adopted = 0
        for path in sorted(self.spool_dir.glob("*.jsonl")):
            if path in owned:
                continue
            spool_file = SpoolFile.adopt(path)
            if spool_file is None:
                continue
            self._close_interrupted(spool_file)
            with self.files_lock:
                self.files.append(spool_file)
            adopted += 1
        return adopted

    def _close_interrupted(self, spool_file: SpoolFile) -> None:
        """A recording whose last record is not its end was cut short (its probe was
        killed): at most the window it was counting is lost. Say so, count it for
        the next window of the same service and version, and close the recording."""
        records = [record for _, record in spool_file.lines(0) if record is not None]
        spool_file.pending = len(records)
        recordings = [r["data"] for r in records if r["type"] == "recording"]
        if not recordings:
            return
        spool_file.info = info = recordings[-1]
        if info.get("ended_at"):
            return
        windows = [r["data"] for r in records if r["type"] == "window"]
        # The unwritten window's events are not known: the recording's mean per window
        # stands in for them (at least 1, so the loss is never zero).
        estimate = max(1, round(sum(int(w.get("events_total", 0)) for w in windows) / len(windows))) if windows else 1
        self.ledger.add(identity_key(info), WINDOW_LOST, estimate)
        ended = windows[-1]["ended_at"] if windows else info["started_at"]
        try:
            spool_file.append({"type": "recording", "data": dict(info, ended_at=ended)})
            spool_file.pending += 1
        except OSError:
            pass  # a full disk: the recording stays open-ended, its windows are still sent
        self.log(f"host-probe: recording {info.get('uuid')} of {info.get('service')} {info.get('version')} "
                 f"({info.get('role', BASELINE)}) ended without its last window (its probe was stopped hard); "
                 f"{len(windows)} spooled windows are sent, the lost one is counted ({WINDOW_LOST}) in the next "
                 "window of the same service and version")


def replay_spool_dir(destination, spool_dir: Path, batch_windows: int,
                     log: Callable[[str], None]) -> tuple[int, int, int]:
    """Deliver every spool file no live process holds, now, from this thread:
    (files delivered, files left, files in use by a running probe)."""
    sender = Sender(destination, spool_dir, log, LossLedger(spool_dir), batch_windows)
    every = len(list(Path(spool_dir).glob("*.jsonl")))
    adopted = sender.adopt_orphans()
    sender.stopping = True
    sender.deliver()
    for spool_file in sender.files:
        spool_file.release()
    destination.close()
    return sender.delivered_files, adopted - sender.delivered_files, every - adopted
