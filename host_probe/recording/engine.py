"""The recording engine, shared by `host-probe agent` (every workload of a host)
and `host-probe record` (one workload): the programs are loaded once, workloads
come and go in the workload table, and every window one drain of the maps
yields a window for each open recording.

A workload that appears opens a recording (its own uuid, service, version and
role); one that changes (a new version in place) closes its recording and
opens another; one that goes closes its recording with its last window.
"""

from __future__ import annotations

import functools
import os
import select
import socket
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable

from gate_contract.records import MAX_PROGRAM_FEATURES, MAX_PROGRAMS, ProgramActivity, RecordingInfo, WindowRecord
from host_probe import __version__
from host_probe.kernel import file_hook, loader
from host_probe.keys import sensitive_inodes
from host_probe.discovery import Workload
from host_probe.recording.drain import MapDrain, RawWindow
from host_probe.recording.late_writes import LateWrites
from host_probe.kernel.heap import page_out_compiler, return_freed_memory
from host_probe.inventory import take_inventory
from host_probe.inventory.process import ProcessGone, start_time
from gate_contract.keys import EVENT_STREAM_LOSSES
from host_probe.kernel.contract import DRAIN_LOSSES, EVENT_TYPES, LOSS_REASONS, PROCESS_CHANGES
from host_probe.keys.kernel_keys import c_text
from host_probe.keys.normalise import DEFAULT_EPHEMERAL_PORTS
from host_probe.recording.workloads import WorkloadTable
from host_probe.settings import BATCH_WINDOWS, FILE_HOOK_AUTO, STARTUP_S, WINDOW_S

POLL_MS = 100
# How long the counts of a made expected cgroup are held for a workload its source has not
# listed yet; past it they are dropped, and the workload, if it comes, is taken as attached to.
HELD_S = 60.0
# Slots the kernel may hand to containers made under a watched pod before any source names
# them (a pod's sandbox takes one too, until HELD_S or its pod is known not watched).
SPARE_SLOTS = 8
# enum process_change's names, which the process-event stream's types share (EVENT_TYPES)
FORK, _THREAD, _EXIT, EXEC = PROCESS_CHANGES


@dataclass
class EngineConfig:
    database_url: str
    spool_dir: Path
    server_url: str = ""   # upload to this gate server instead of writing to the database
    ingest_token: str = ""
    window_s: float = WINDOW_S
    max_workloads: int = 1
    detail_keys: int = 16384       # capacity of each detail map, all workloads together
    detail_budget: int = 0         # per workload and window; 0 = the whole capacity
    sample_every: int = 1
    rate_limit: int = 0
    ringbuf_pages: int = 64
    startup_s: float = STARTUP_S   # how long after its start a workload's windows are start-up windows
    file_hook: str = FILE_HOOK_AUTO  # auto, fentry or sys_enter (host_probe/kernel/file_hook.py)
    # globs of sensitive files besides the defaults, keyed by inode under fentry (a hard link is the file)
    sensitive_paths: tuple[str, ...] = ()
    retry_unreadable: bool = False  # sys_enter: read an unreadable open's path again at its sys_exit
    verbose: bool = False
    # Store each recording from the loop before counting it, so a refusal stops `record`
    # before it attaches; the agent leaves it to the sender (a hung server must not stall discovery).
    store_first: bool = False
    send_grace_s: float = 10.0     # on stop, how long the sender may go on delivering
    batch_windows: int = BATCH_WINDOWS  # spooled windows sent in one request

    def probe_options(self) -> loader.ProbeOptions:
        return loader.ProbeOptions(max_workloads=self.max_workloads, sample_every=self.sample_every,
                                   rate_limit=self.rate_limit, ringbuf_pages=self.ringbuf_pages,
                                   detail_max_keys=self.detail_keys, detail_budget=self.detail_budget,
                                   retry_unreadable=self.retry_unreadable)


def ephemeral_port_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return DEFAULT_EPHEMERAL_PORTS


def window_features(raw: RawWindow) -> dict[tuple[str, str], int]:
    features: Counter = Counter()
    for name, count in raw.syscalls.items():
        features[("syscall", name)] += count
    features.update(raw.details)
    for change, count in raw.processes.items():
        features[("process", change)] += count
    return dict(features)


def window_programs(raw: RawWindow) -> list[ProgramActivity]:
    """Lineage of a window: per program whose processes the probe saw exec, what they
    made and who started it (a program it cannot name, its exec key drained before the
    agent's memory of it was cleared, is left out)."""
    named = raw.programs
    activity = []
    for image in sorted(set(raw.image_features) | {started for _, started in raw.exec_edges}):
        if image not in named:  # also 0: processes not seen exec (window_unnamed)
            continue
        started_by = sorted({named[parent][1] for parent, started in raw.exec_edges
                             if started == image and parent in named})
        made = sorted(raw.image_features.get(image, ()))[:MAX_PROGRAM_FEATURES]
        activity.append(ProgramActivity(program=named[image][1], started_by=started_by, features=made))
    return activity[:MAX_PROGRAMS]


def window_unnamed(raw: RawWindow, programs: list[ProgramActivity]) -> list[tuple[str, str]]:
    """What processes the probe did not see exec also made of what the named programs made:
    so a check never credits a named program alone with it. Bounded by the programs' features."""
    made = {tuple(feature) for activity in programs for feature in activity.features}
    return sorted(made & raw.image_features.get(0, set()))[:MAX_PROGRAM_FEATURES]


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _cgroup2_root() -> Path | None:
    from host_probe.discovery import DiscoveryError
    from host_probe.discovery.cgroups import cgroup2_mount

    try:
        return cgroup2_mount()
    except DiscoveryError:  # no cgroup v2: process-tree workloads only
        return None


def _merged(carried: RawWindow | None, raw: RawWindow) -> RawWindow:
    if carried is None:
        return raw
    losses = dict(carried.losses)
    for reason, count in raw.losses.items():
        losses[reason] = losses.get(reason, 0) + count
    merged = RawWindow(carried.syscalls + raw.syscalls, carried.details + raw.details,
                       carried.processes + raw.processes, losses,
                       exec_edges=carried.exec_edges | raw.exec_edges, programs={**carried.programs, **raw.programs})
    for window in (carried, raw):
        for image, features in window.image_features.items():
            merged.attribute(image, features)
    return merged


@functools.cache
def _boot_time() -> datetime:
    """Once: computed again at each call it moves by the time between the two reads, and the
    same process's start then looks later than itself (a false restart, issue 23)."""
    uptime = float(Path("/proc/uptime").read_text().split()[0])
    return datetime.now(timezone.utc) - timedelta(seconds=uptime)


def oldest_process(pids: set[int]) -> tuple[int, int] | None:
    """(pid, start time in clock ticks since boot) of the oldest of `pids` (the workload's
    main process); None when none runs."""
    started = []
    for pid in pids:
        try:
            started.append((start_time(pid), pid))
        except (ProcessGone, OSError):
            continue
    if not started:
        return None
    ticks, pid = min(started)
    return pid, ticks


def still_runs(process: tuple[int, int]) -> bool:
    """The process (pid, start ticks) runs: the pid is not gone, nor taken by another."""
    try:
        return start_time(process[0]) == process[1]
    except (ProcessGone, OSError):
        return False


def started_at(process: tuple[int, int] | None) -> datetime | None:
    if process is None:
        return None
    return _boot_time() + timedelta(seconds=process[1] / os.sysconf("SC_CLK_TCK"))


def oldest_start(pids: set[int]) -> datetime | None:
    """When the oldest of `pids` started; None when none runs."""
    return started_at(oldest_process(pids))


# What a recording saw of its workload's start-up (RecordingInfo.startup):
STARTUP_OBSERVED = "observed"          # it opened before the workload's first process (a command
                                       # launched under the probe, an empty cgroup)
STARTUP_PARTLY = "partly"              # attached to running processes, then saw them start again
STARTUP_NOT_OBSERVED = "not_observed"  # attached to running processes, at whatever age


@dataclass
class Recording:
    """One workload's open recording."""

    workload: Workload
    slot: int
    info: RecordingInfo
    sink: object
    window_started: datetime
    index: int = 0
    closing_at: datetime | None = None
    # The start-up span of the workload's latest observed start: from its first process
    # (exec or fork seen in scope), `startup_s` long. None: no start observed (attached).
    startup_from: datetime | None = None
    startup_until: datetime | None = None
    # Opened on no running process (an empty cgroup, a held command): the first process to
    # appear, and every start after all of them have gone (a restart), begins a start-up.
    watch_for_start: bool = False
    oldest: tuple[int, int] | None = None  # (pid, start ticks) of its oldest process when last looked
    inventory: dict = field(default_factory=dict)  # what it held at attach, for its first window
    served_inventory_due: bool = True  # an inventory once its start-up is over, for the next window
    late_writes: LateWrites = field(default_factory=LateWrites)  # files opened for writing after it
    profile_lost: Counter = field(default_factory=Counter)
    stream_lost: Counter = field(default_factory=Counter)  # the ring buffer's, which feeds -v alone
    events_received: int = 0
    # counted since its addition, held for its first window: a workload added late in the
    # agent's window gets a first window of at least half a window, not a stub
    carried: RawWindow | None = None

    @property
    def uuid(self) -> str:
        return self.info.uuid


class Engine:
    def __init__(self, config: EngineConfig, log: Callable[[str], None] | None = None):
        self.config = config
        self.log = log or (lambda message: print(message, file=sys.stderr, flush=True))
        self.recordings: dict[str, Recording] = {}  # open, by workload key
        self.closing: list[Recording] = []          # removed; their last window is still to drain
        self.destination = None
        self.sender = None
        self.on_refused = None  # given to the sender: (recording uuid, reason) of a recording refused outright
        self.bpf = None
        self.last_drain_s = self.last_drain_cpu_s = 0.0
        self.said_unfenced = False
        # counts of expected cgroups the kernel saw made, by slot, drained before their
        # workload was added (a container runs before Docker says so): its first window's
        self.held: dict[int, tuple[datetime, RawWindow]] = {}  # slot -> (since, counts)
        self.held_dropped: set[int] = set()
        self.last_drain_at = _now()
        self.waiting: select.poll | None = None
        self.file_hook_note = ""  # why file opens come from sys_enter, when fentry was tried

    # -- lifecycle ---------------------------------------------------------------
    def start(self) -> None:
        """Compile and attach once, then open the destination (refusals raise here)."""
        config = self.config
        notes: list[str] = []
        self.bpf, self.file_hook = file_hook.load(config.probe_options(), config.file_hook, notes.append)
        self.file_hook_note = "; ".join(notes)
        self.hooks = file_hook.window_hooks(self.file_hook)
        if self.file_hook == file_hook.FENTRY:
            sensitive_inodes.fill(self.bpf, config.sensitive_paths)
        try:
            # Only now the storage code (SQLAlchemy or requests): compiled first and
            # with the compiler's heap handed back, the two memory peaks do not add up.
            return_freed_memory()
            page_out_compiler()
            from host_probe.delivery.destinations import open_destination
            from host_probe.delivery.sender import Sender
            from host_probe.delivery.spool import LossLedger

            self.destination = open_destination(config.database_url, config.server_url, config.ingest_token)
            self.destination.check()
        except BaseException:
            self.bpf.cleanup()
            raise
        self.sender = Sender(self.destination, config.spool_dir, self.log, LossLedger(config.spool_dir),
                             config.batch_windows)
        self.sender.on_refused = self.on_refused
        self.sender.adopt_orphans()  # before any workload: a killed recording's loss is for its next window
        self.sender.start()
        options = config.probe_options()
        self.table = WorkloadTable(self.bpf, options.max_workloads, options.max_cgroups)
        self.cgroup_root = _cgroup2_root()
        self.drain = MapDrain(self.bpf, loader.syscall_names(), options.max_workloads, ephemeral_port_range())
        self.layout = self.bpf["event_layout"]
        self.bpf["events"].open_ring_buffer(self._on_event)
        self.window_begin = time.monotonic()
        self.last_drain_at = _now()

    def close(self) -> list[tuple[Recording, dict[str, int]]]:
        """Drain the last window of every recording, store them, let go of the kernel."""
        if self.bpf is None:
            return []
        self.bpf.ring_buffer_consume()
        for key in list(self.recordings):
            self.remove(key)
        written = self.drain_window()
        self.bpf.cleanup()
        self.bpf = None
        self._stop_sending()
        return written

    def _stop_sending(self) -> None:
        """Every window is spooled by now; let the sender deliver what it can in the grace."""
        left = self.sender.stop(self.config.send_grace_s)
        if left:
            self.log(f"host-probe: {self.destination.name} did not take {left} spooled records in "
                     f"{self.config.send_grace_s:g}s; {self.config.spool_dir} keeps them: the next start on this "
                     "spool, or `host-probe replay`, sends them")
        if not self.sender.is_alive():  # one stuck in a request keeps the destination until exit
            self.destination.close()

    # -- workloads ---------------------------------------------------------------
    def add(self, workload: Workload, attached: bool = True) -> Recording:
        """Open a recording for the workload and start counting it. `attached`: its
        processes already run (not a command held before exec), so what they hold is
        taken from /proc for the first window. Raises the destination's Refused (a
        token without the right) before anything is counted, and workloads.TableFull
        when no slot is free."""
        from host_probe.delivery.spool import WindowSink

        info = RecordingInfo(
            uuid=str(uuid.uuid4()), service=workload.identity.service, version=workload.identity.version,
            role=workload.identity.role, started_at=_now(), host=socket.gethostname(),
            kernel=loader.kernel_release(), scope=workload.scope, sample_every=self.config.sample_every,
            rate_limit=self.config.rate_limit or None, probe_version=__version__,
        )
        self.table.claim(workload)  # a container the kernel registered under its pod: its slot
        expected = workload.key in self.table.expected
        if not expected:
            self.table.ensure_room(workload)
        sink = WindowSink(self.sender, self.config.spool_dir, info.uuid, self.log)
        sink.open(info, store_first=self.config.store_first)
        slot, running, made_in_view = self.table.add(workload)
        self.drain.canonical.watch(slot, running or set(workload.pids or ()))
        recording = Recording(workload, slot, info, sink, window_started=info.started_at)
        if expected and slot in self.held:
            held_since, recording.carried = self.held.pop(slot)
            recording.window_started = min(held_since, recording.window_started)
        if slot in self.held_dropped:
            self.held_dropped.discard(slot)
            made_in_view = False  # what it did first was dropped: not observed
        if made_in_view:
            attached = False  # its cgroup was registered as it was made: every process in it was seen arrive
        if not running or not attached:
            # Nothing of it ran before the probe watched: its start is seen from its first process.
            info.startup = STARTUP_OBSERVED
            recording.watch_for_start = bool(workload.cgroup)
            recording.oldest = oldest_process(running)
            self._begin_startup(recording, started_at(recording.oldest))
        else:
            # A service attached to, however young, was not seen starting (issue 23: one
            # attached 2 s after its start had its first windows taken for its start-up).
            info.startup = STARTUP_NOT_OBSERVED
            recording.watch_for_start = bool(workload.cgroup)
            recording.oldest = oldest_process(running)
            recording.startup_from = started_at(recording.oldest)
        if attached and running:
            recording.inventory = take_inventory(running, self.drain.ephemeral_ports).features()
        self.recordings[workload.key] = recording
        self.log(f"host-probe: recording {info.service} {info.version} ({info.role}) scope {workload.scope} "
                 f"as {info.uuid} in slot {slot}; windows of {self.config.window_s:g}s; "
                 f"file opens from {self.hooks['file']}" + (f" ({self.file_hook_note})" if self.file_hook_note else ""))
        return recording

    def expect(self, workload: Workload) -> bool:
        """A cgroup workload whose directory is not made yet: the kernel registers it as it
        is made (bpf: cgroup_mkdir), so add() then finds its start observed. False when
        it cannot be expected (no free slot, too long a path): it is then polled for."""
        return self.table.expect(workload, self.cgroup_root)

    def unexpect(self, key: str) -> None:
        slot = self.table.expected[key].slot
        self.held.pop(slot, None)
        self.held_dropped.discard(slot)
        self.table.unexpect(key)

    def expect_pods(self, pod_parents: set[str], watched: set[str], not_watched: set[str],
                    settled: dict[str, float] | None = None) -> None:
        """Have the kernel register pods' containers as they are made (bpf: cgroup_mkdir's
        parent rules), and keep spare slots for them; see WorkloadTable.set_pod_rules."""
        if self.cgroup_root is None:
            return
        for key in self.table.set_pod_rules(pod_parents, watched, not_watched, self.cgroup_root, settled or {}):
            self.unexpect(key)  # no container to claim it (a pod not watched, a sandbox): its slot back
        self.table.top_up_spares(SPARE_SLOTS if self.table.parents else 0)

    def collect_children(self) -> list[str]:
        """Containers the kernel registered under a pod since the last look (their counts
        are held from now on); the ones no source claimed in HELD_S (a pod's sandbox) give
        their slot back."""
        found = self.table.collect_children()
        deadline = time.monotonic() - HELD_S
        for key in [k for k in self.table.children if self.table.expected[k].made_at < deadline]:
            self.unexpect(key)
        return found

    def made_expected(self) -> list[str]:
        """The expected workloads whose cgroup the kernel has seen made (to add before the
        next drain: their counts so far are in their slot)."""
        return [key for key in self.table.expected if self.table.made(key)]

    def _begin_startup(self, recording: Recording, started: datetime | None) -> None:
        recording.startup_from = started
        recording.startup_until = started + timedelta(seconds=self.config.startup_s) if started else None
        recording.served_inventory_due = started is not None

    def _follow_start(self, recording: Recording, raw: RawWindow) -> None:
        """A cgroup workload's first process, or its processes started again in the same
        cgroup (a restart, a rolling update in place): a start-up observed from there."""
        if not recording.watch_for_start or recording.closing_at:
            return
        if recording.oldest is not None and still_runs(recording.oldest):
            return  # one /proc read: the oldest process known still runs, so no start began since
        if recording.oldest is None and not (raw.processes.get(EXEC) or raw.processes.get(FORK)):
            return  # still empty: nothing started in this window
        try:
            running = self.table.processes(recording.workload.key)
        except KeyError:
            return
        recording.oldest = oldest_process(running)
        started = started_at(recording.oldest)
        if started is None or (recording.startup_from is not None and started <= recording.startup_from):
            return
        if recording.info.startup == STARTUP_NOT_OBSERVED:
            recording.info.startup = STARTUP_PARTLY
        self.log(f"host-probe: {recording.info.service} {recording.info.version}: its processes started at "
                 f"{started.isoformat(timespec='seconds')}: windows up to {self.config.startup_s:g}s after are "
                 "start-up windows")
        self._begin_startup(recording, started)

    def refresh(self, key: str) -> None:
        self.table.refresh(key)

    def remove(self, key: str) -> None:
        """Stop counting the workload; its recording closes at the next drain."""
        recording = self.recordings.pop(key)
        self.table.remove(key)
        recording.closing_at = _now()
        self.closing.append(recording)

    # -- the loop ----------------------------------------------------------------
    def _on_event(self, _ctx, data, size) -> int:
        event = loader.struct_from(self.layout, data, size)
        if event is None:
            return 0
        for recording in self.recordings.values():
            if recording.slot == event.slot:
                recording.events_received += 1
                break
        if self.config.verbose:
            name = EVENT_TYPES.get(event.type, "?")
            detail = f" {c_text(event.filename)} [{c_text(event.argv0)}]" if name == EXEC else ""
            parent = f" parent={event.parent_pid}" if name == FORK else ""
            print(f"{name:5} slot={event.slot} pid={event.pid}{parent} comm={c_text(event.comm)}{detail}",
                  flush=True)
        return 0

    def time_windows_from_now(self) -> float:
        """Start the window clock again now (the one workload of `record` was just added,
        after the compile and the destination's checks); what was counted since its
        addition stays in its first window. Returns the instant, for the duration."""
        self.window_begin = time.monotonic()
        return self.window_begin

    def seconds_to_window(self) -> float:
        return self.window_begin + self.config.window_s - time.monotonic()

    def poll(self, max_ms: int = POLL_MS, wake_fd: int | None = None) -> None:
        """Handle the ring buffer's records, waiting up to `max_ms` for some; a write to
        `wake_fd` (another thread's news) ends the wait at once."""
        timeout_ms = max(1, min(max_ms, int(self.seconds_to_window() * 1000)))
        if wake_fd is None:
            self.bpf.ring_buffer_poll(timeout_ms)
            return
        if self.waiting is None:
            # the ring buffer's map fd is readable while it holds records: what libbpf's epoll waits on
            self.waiting = select.poll()
            self.waiting.register(self.bpf["events"].map_fd, select.POLLIN)
            self.waiting.register(wake_fd, select.POLLIN)
        self.waiting.poll(timeout_ms)
        self.bpf.ring_buffer_consume()

    def window_due(self) -> bool:
        return self.seconds_to_window() <= 0

    def drain_window(self) -> list[tuple[Recording, dict[str, int]]]:
        """One pass over the maps: a window for every open and closing recording.
        Returns each recording written with its window's drops."""
        with self.sender.paused():  # see Sender.paused
            return self._drain_and_write()

    def _drain_and_write(self) -> list[tuple[Recording, dict[str, int]]]:
        ended = _now()
        self.window_begin = time.monotonic()
        every = list(self.recordings.values()) + self.closing
        made_keys = self.made_expected()
        made = [self.table.expected[key].slot for key in made_keys]
        children = {self.table.expected[key].slot for key in made_keys if self.table.expected[key].key is None}
        started, cpu_started = time.perf_counter(), time.thread_time()
        raw = self.drain.drain([r.slot for r in every] + made)
        self.last_drain_s = time.perf_counter() - started
        # the drain's own CPU time (its bpf() calls included): what it costs, apart
        # from the time it waits for a grace period or for a CPU that others hold
        self.last_drain_cpu_s = time.thread_time() - cpu_started
        if not self.drain.fenced and not self.said_unfenced:
            self.said_unfenced = True
            self.log("host-probe: the kernel refused membarrier (nohz_full?): the drain waits 5 ms for running "
                     "programs instead of a grace period, and an increment may land one window late")
        for slot in made:
            since, counts = self.held.get(slot, (self.last_drain_at, None))
            if slot in self.held_dropped:
                continue
            if slot not in children and (ended - since).total_seconds() > HELD_S:
                del self.held[slot]
                self.held_dropped.add(slot)
                self.log(f"host-probe: an expected cgroup (slot {slot}) was made {HELD_S:g}s ago and no source "
                         "lists its workload yet: its counts so far are dropped")
                continue
            self.held[slot] = (since, _merged(counts, raw[slot]))
        self.last_drain_at = ended
        written = []
        for recording in every:
            window = _merged(recording.carried, raw[recording.slot])
            recording.carried = None
            if self._too_short_to_write(recording, ended):
                recording.carried = window
                continue
            written.append((recording, self._write(recording, window, recording.closing_at or ended)))
        for recording in self.closing:
            self._finish(recording)
            self.table.release(recording.slot)
        self.closing = []
        return_freed_memory()  # a window's transient objects (a burst of new paths) do not stay resident
        return written

    def _too_short_to_write(self, recording: Recording, ended: datetime) -> bool:
        """The first window of a workload added less than half a window before this drain:
        held and written with the next (issue 23: a stub window is no sample)."""
        return (recording.index == 0 and not recording.closing_at
                and (ended - recording.window_started).total_seconds() < self.config.window_s / 2)

    def _write(self, recording: Recording, raw: RawWindow, ended: datetime) -> dict[str, int]:
        drops = {reason: int(raw.losses.get(reason, 0)) for reason in LOSS_REASONS + DRAIN_LOSSES}
        carried = recording.sink.losses()  # whole windows lost before this one (host_probe.delivery.spool)
        for reason, count in carried.items():
            drops[reason] = drops.get(reason, 0) + count
        recording.profile_lost.update({r: n for r, n in drops.items() if r not in EVENT_STREAM_LOSSES})
        recording.stream_lost.update({r: n for r, n in drops.items() if r in EVENT_STREAM_LOSSES})
        received, recording.events_received = recording.events_received, 0
        self._follow_start(recording, raw)
        startup = bool(recording.startup_until and recording.window_started < recording.startup_until
                       and ended >= recording.startup_from)
        programs = window_programs(raw)
        features = window_features(raw)
        spooled = recording.sink.write_window(WindowRecord(
            recording_uuid=recording.uuid, index=recording.index, started_at=recording.window_started,
            ended_at=ended, syscalls_total=sum(raw.syscalls.values()),
            events_total=sum(raw.details.values()) + received,
            # the kernel counts every detail: only the -v stream is ever sampled
            sample_every=1, drops=drops, features=features,
            startup=startup,
            # its oldest process's start (its latest, after a restart): the check reads the window's age
            workload_started_at=min(recording.startup_from, ended) if recording.startup_from else None,
            inventory=recording.inventory, hooks=self.hooks, programs=programs,
            unnamed=window_unnamed(raw, programs),
        ))
        if not spooled:
            recording.sink.give_back(carried)
        recording.inventory = {}
        recording.window_started, recording.index = ended, recording.index + 1
        serving = recording.startup_until is not None and not recording.served_inventory_due
        self._inventory_after_startup(recording)
        self._follow_late_writes(recording, features, serving)
        return drops

    def _inventory_after_startup(self, recording: Recording) -> None:
        """What a workload seen starting still holds when its start-up span ends (a log
        or journal it opened at start and writes while serving), for the next window:
        the judge tells it from a start-up one-off (analysis/startup.py)."""
        due = recording.startup_until and recording.served_inventory_due and not recording.closing_at
        if not due or recording.window_started < recording.startup_until:
            return
        recording.served_inventory_due = False
        try:
            running = self.table.processes(recording.workload.key)
        except KeyError:  # removed since
            return
        # fds 0-2 are what its launcher handed it (a log file per instance), not its release's
        recording.inventory = take_inventory(running, self.drain.ephemeral_ports,
                                             standard_streams=False).features()

    def _follow_late_writes(self, recording: Recording, features: dict, serving: bool) -> None:
        """A file first opened for writing after the inventory that ended the start-up,
        held at this drain and the next: in the next window's inventory (late_writes.py)."""
        late = recording.late_writes
        opened = late.new_opens(features)
        if not serving or recording.closing_at:
            late.forget_pending()
            return
        if not late.needs_a_look(opened):
            return
        try:
            running = self.table.processes(recording.workload.key)
        except KeyError:  # removed since
            late.forget_pending()
            return
        held = take_inventory(running, self.drain.ephemeral_ports, standard_streams=False).features()
        for key in late.still_held(opened, held):
            recording.inventory[key] = 1

    def _finish(self, recording: Recording) -> None:
        info = recording.info
        info.ended_at = recording.closing_at
        recording.sink.save_recording(info)
        lost = sum(recording.profile_lost.values())
        stream = sum(recording.stream_lost.values())
        self.log(f"host-probe: {info.service} {info.version}: stored {recording.index} windows as {info.uuid}, "
                 f"{lost} lost ({', '.join(f'{k}={v}' for k, v in recording.profile_lost.items() if v) or 'none'})"
                 + (f"; -v stream dropped {stream} events" if stream else ""))
        recording.sink.close()
