"""The recording loop: attach, poll the ring buffer, and every window drain the
maps, normalise, and hand one WindowRecord to the sink."""

from __future__ import annotations

import signal
import socket
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from gate_server.storage.records import RecordingInfo, WindowRecord
from host_probe import __version__, loader
from host_probe.drain import MapDrain, RawWindow
from host_probe.keys import LOSS_REASONS, event_text
from host_probe.normalise import DEFAULT_EPHEMERAL_PORTS, normalise_key

POLL_MS = 100
EVENT_NAMES = {1: "fork", 2: "exec", 3: "exit"}


@dataclass
class RecordConfig:
    service: str
    version: str
    role: str
    database_url: str
    spool_dir: Path
    server_url: str = ""   # upload to this gate server instead of writing to the database
    ingest_token: str = ""
    window_s: float = 10.0
    duration_s: float | None = None
    sample_every: int = 1
    rate_limit: int = 0
    ringbuf_pages: int = 64
    detail_keys: int = 16384
    verbose: bool = False


def ephemeral_port_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return DEFAULT_EPHEMERAL_PORTS


def features_of(raw: RawWindow, ephemeral_ports: tuple[int, int]) -> dict[tuple[str, str], int]:
    features: Counter = Counter()
    for name, count in raw.syscalls.items():
        features[("syscall", name)] += count
    for (kind, key), count in raw.details.items():
        features[(kind, normalise_key(kind, key, ephemeral_ports))] += count
    for change, count in raw.processes.items():
        features[("process", change)] += count
    return dict(features)


def _now() -> datetime:
    return datetime.now(timezone.utc)


class Recorder:
    def __init__(self, config: RecordConfig, scope, log=None):
        self.config = config
        self.scope = scope
        self.log = log or (lambda message: print(message, file=sys.stderr, flush=True))
        self.events_received = 0
        self.stop_requested = False
        self.uuid = str(uuid.uuid4())
        self.ephemeral_ports = ephemeral_port_range()
        self.totals_lost: Counter = Counter()
        self.totals_events = 0

    def _on_event(self, _ctx, data, size) -> int:
        self.events_received += 1
        if self.config.verbose:
            event = loader.struct_from(self.layout, data, size)
            if event is not None:
                name = EVENT_NAMES.get(event.type, "?")
                detail = f" {event_text(event.filename)} [{event_text(event.argv0)}]" if event.type == 2 else ""
                parent = f" parent={event.parent_pid}" if event.type == 1 else ""
                print(f"{name:5} pid={event.pid}{parent} comm={event_text(event.comm)}{detail}", flush=True)
        return 0

    def _request_stop(self, signum, _frame) -> None:
        self.stop_requested = True

    def _window(self, drain: MapDrain, index: int, started: datetime, ended: datetime) -> WindowRecord:
        raw = drain.drain()
        received, self.events_received = self.events_received, 0
        features = features_of(raw, self.ephemeral_ports)
        drops = {reason: int(raw.losses.get(reason, 0)) for reason in LOSS_REASONS}
        events = sum(raw.details.values()) + received
        self.totals_lost.update(drops)
        self.totals_events += events
        return WindowRecord(
            recording_uuid=self.uuid, index=index, started_at=started, ended_at=ended,
            syscalls_total=sum(raw.syscalls.values()), events_total=events,
            sample_every=self.config.sample_every, drops=drops, features=features,
        )

    def run(self) -> int:
        config = self.config
        options = loader.ProbeOptions(cgroup_id=self.scope.cgroup_id, sample_every=config.sample_every,
                                      rate_limit=config.rate_limit, ringbuf_pages=config.ringbuf_pages,
                                      detail_max_keys=config.detail_keys)
        try:
            bpf = loader.load(options)
        except BaseException:
            self.scope.close()
            raise
        try:
            # Only now the storage code (SQLAlchemy): compiled first and with the
            # compiler's heap handed back, the two memory peaks do not add up.
            loader.release_compiler_memory()
            from host_probe.destinations import open_destination
            from host_probe.sink import WindowSink

            sink = WindowSink(open_destination(config.database_url, config.server_url, config.ingest_token),
                              config.spool_dir, self.uuid, self.log)
            info = self._recording_info()
            sink.open(info)  # before attaching: a refused token or a missing schema stops us here
        except BaseException:
            self.scope.close()
            bpf.cleanup()
            raise
        self.layout = bpf["event_layout"]
        drain = MapDrain(bpf, loader.syscall_names())
        bpf["events"].open_ring_buffer(self._on_event)
        previous = {sig: signal.signal(sig, self._request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            self.scope.attach(bpf)
            return self._loop(bpf, drain, sink, info)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            self.scope.close()
            bpf.cleanup()

    def _recording_info(self) -> RecordingInfo:
        config = self.config
        return RecordingInfo(
            uuid=self.uuid, service=config.service, version=config.version, role=config.role,
            started_at=_now(), host=socket.gethostname(), kernel=loader.kernel_release(),
            scope=self.scope.description, sample_every=config.sample_every,
            rate_limit=config.rate_limit or None, probe_version=__version__,
        )

    def _loop(self, bpf, drain: MapDrain, sink, info: RecordingInfo) -> int:
        config = self.config
        started_at = _now()
        self.log(f"host-probe: recording {config.service} {config.version} ({config.role}) "
                 f"scope {self.scope.description} as {self.uuid}; windows of {config.window_s:g}s")
        begin = time.monotonic()
        window_begin, window_started, index = begin, started_at, 0
        while True:
            now = time.monotonic()
            until_window = window_begin + config.window_s - now
            bpf.ring_buffer_poll(max(1, min(POLL_MS, int(until_window * 1000))))
            now = time.monotonic()
            out_of_time = config.duration_s is not None and now - begin >= config.duration_s
            if self.stop_requested or out_of_time or self.scope.finished():
                break
            if now - window_begin >= config.window_s:
                ended = _now()
                sink.write_window(self._window(drain, index, window_started, ended))
                window_begin, window_started, index = now, ended, index + 1
        bpf.ring_buffer_consume()
        ended = _now()
        sink.write_window(self._window(drain, index, window_started, ended))
        info.ended_at = ended
        info.events_seen = self.totals_events
        info.drops = dict(self.totals_lost)
        sink.save_recording(info)
        lost = sum(self.totals_lost.values())
        self.log(f"host-probe: stored {index + 1} windows, {self.totals_events} events, {lost} lost "
                 f"({', '.join(f'{k}={v}' for k, v in self.totals_lost.items() if v) or 'none'})")
        sink.close()
        return 0
