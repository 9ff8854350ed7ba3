"""`host-probe agent`: one daemon per host. The programs are loaded once; the
discovery sources say which workloads run here and as what; each gets a slot in
the workload table and a recording of continuous windows.

SIGHUP, or a change of the config file, reloads the discovery sources without
reloading the programs (a change of the engine's sizes or window is said to
need a restart). SIGTERM or SIGINT closes every recording with its last window.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import sys
import time
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from host_probe.recording.agent_config import AgentConfig, ConfigInvalid, load_agent_config
from host_probe.recording.agent_metrics import AgentMetrics
from host_probe.discovery import DiscoveryError, Workload, changes
from host_probe.discovery.cgroups import CgroupFinder
from host_probe.discovery.containers import DockerSource
from host_probe.discovery.kubernetes import KubernetesSource
from host_probe.discovery.static import StaticSource
from host_probe.recording.engine import Engine, EngineConfig
from host_probe.recording.wake import Wake
from host_probe.recording.workloads import CHILD_PREFIX, TableFull

# what a reload may change without reloading the programs
ENGINE_FIELDS = ("window", "max_workloads", "detail_keys", "detail_keys_per_workload", "spool_dir", "startup")


def build_sources(config: AgentConfig) -> list:
    cgroups = CgroupFinder()  # one cache of the cgroup walk for both runtime sources
    sources: list = []
    if config.workloads:
        sources.append(StaticSource(config.workloads))
    if config.containers and config.containers.enabled:
        sources.append(DockerSource(config.containers, cgroups))
    if config.kubernetes and config.kubernetes.enabled:
        sources.append(KubernetesSource(config.kubernetes, cgroups))
    return sources


def engine_config(config: AgentConfig, base: EngineConfig) -> EngineConfig:
    return replace(base, window_s=config.window, max_workloads=config.max_workloads,
                   detail_keys=config.detail_keys, detail_budget=config.detail_keys_per_workload,
                   startup_s=config.startup,
                   spool_dir=config.spool_dir or base.spool_dir)


class Agent:
    def __init__(self, config_path: Path, base: EngineConfig, log: Callable[[str], None] | None = None,
                 node_name: str = "", overrides: dict | None = None):
        self.config_path = Path(config_path)
        self.node_name = node_name
        self.overrides = overrides or {}  # settings a flag or variable set: they win over the file
        self.log = log or (lambda message: print(message, file=sys.stderr, flush=True))
        self.config = load_agent_config(self.config_path, node_name, self.overrides)
        self.config_mtime = self._mtime()
        self.engine = Engine(engine_config(self.config, base), self.log)
        self.engine.on_refused = self._recording_refused
        self.sources = build_sources(self.config)
        self.wake = Wake()  # a source's thread has news (a container created): expect it now
        self.made: set[str] = set()  # expected workloads whose cgroup the kernel saw made, when last looked
        self.seen: dict[str, dict[str, Workload]] = {}   # source -> its last known workloads
        self.refused: dict[str, Workload] = {}           # not watched, until they change or a reload
        self.source_errors: dict[str, str] = {}
        self.next_poll: dict[str, float] = {}   # source -> monotonic time it is next asked
        self.metrics = AgentMetrics()
        self.stop_requested = False
        self.reload_requested = False
        self.refused_recordings: queue.SimpleQueue = queue.SimpleQueue()  # (uuid, reason), from the sender
        self.started_at = datetime.now(timezone.utc)

    def _mtime(self) -> float:
        try:
            return self.config_path.stat().st_mtime
        except OSError:
            return 0.0

    # -- signals ---------------------------------------------------------------
    def _request_stop(self, _signum, _frame) -> None:
        self.stop_requested = True

    def _request_reload(self, _signum, _frame) -> None:
        self.reload_requested = True

    # -- discovery -------------------------------------------------------------
    def _poll_sources(self) -> list[Workload]:
        current: list[Workload] = []
        now = time.monotonic()
        for source in self.sources:
            if now < self.next_poll.get(source.name, 0.0):
                current += self.seen.get(source.name, {}).values()
                continue
            interval = getattr(getattr(source, "options", None), "poll_interval_seconds", self.config.poll_interval)
            self.next_poll[source.name] = now + max(interval, self.config.poll_interval)
            try:
                self.seen[source.name] = {w.key: w for w in source.poll()}
                problem = "; ".join(getattr(source, "problems", []))
            except DiscoveryError as exc:  # keep its last known set: an API away must not close recordings
                problem = str(exc)
                self.metrics.discovery_errors.labels(source.name).inc()
            if problem and self.source_errors.get(source.name) != problem:
                self.log(f"host-probe agent: discovery {source.name}: {problem}")
            self.source_errors[source.name] = problem
            current += self.seen.get(source.name, {}).values()
        return current

    def discover(self) -> None:
        current = self._poll_sources()
        known = {key: r.workload for key, r in self.engine.recordings.items()}
        known.update(self.refused)
        for event in changes(known, current):
            key = event.workload.key
            if key in self.refused:
                del self.refused[key]
            elif event.change in ("changed", "gone"):
                self.engine.remove(key)
            if event.change in ("appeared", "changed"):
                self._watch(event.workload)
        for key in list(self.engine.recordings):
            self.engine.refresh(key)
        self._expect()
        self.metrics.workloads.set(len(self.engine.recordings))

    def _follow_sources(self) -> None:
        """Sources that learn of workloads between polls (Docker's event stream) follow from
        now on, each in a thread of its own that wakes the loop."""
        for source in self.sources:
            if hasattr(source, "follow"):
                source.follow(self.wake.set)

    def _close_sources(self) -> None:
        for source in self.sources:
            if hasattr(source, "close"):
                source.close()

    def _expect(self) -> None:
        """Cgroups the sources name but are not made yet are registered in kernel as they
        are made (issue 23: a rolling update's new cgroup, polled for, had its first
        moments unobserved)."""
        expected = {w.key: w for source in self.sources for w in getattr(source, "expected", [])
                    if w.key not in self.engine.recordings and w.key not in self.refused}
        for key in [k for k in self.engine.table.expected if k not in expected and not k.startswith(CHILD_PREFIX)]:
            self.engine.unexpect(key)
        for workload in expected.values():
            self.engine.expect(workload)
        # pods' containers, whose directories no source can name before they are made
        pods = [source.pod_cgroups for source in self.sources if hasattr(source, "pod_cgroups")]
        if pods or self.engine.table.parents:
            self.engine.expect_pods(set().union(*(p.parents for p in pods)), set().union(*(p.watched for p in pods)),
                                    set().union(*(p.not_watched for p in pods)),
                                    {path: since for p in pods for path, since in p.settled.items()})

    def _watch(self, workload: Workload) -> None:
        from host_probe.delivery.destinations import Refused

        try:
            self.engine.add(workload)
        except (TableFull, Refused) as exc:
            self.refused[workload.key] = workload
            self.metrics.refused.inc()
            self.log(f"host-probe agent: not watching {workload.key}: {exc}")

    def _recording_refused(self, recording_uuid: str, reason: str) -> None:
        """From the sender's thread: the destination will not take this recording."""
        self.refused_recordings.put((recording_uuid, reason))

    def _drop_refused(self) -> None:
        """Stop watching the workloads whose recordings the destination refused (a token
        that does not cover their service), as if refused when they appeared."""
        while not self.refused_recordings.empty():
            recording_uuid, reason = self.refused_recordings.get()
            key = next((k for k, r in self.engine.recordings.items() if r.uuid == recording_uuid), None)
            if key is None:
                continue
            self.refused[key] = self.engine.recordings[key].workload
            self.engine.remove(key)
            self.metrics.refused.inc()
            self.log(f"host-probe agent: not watching {key}: {reason}")

    def reload(self) -> None:
        self.reload_requested = False
        self.config_mtime = self._mtime()
        try:
            config = load_agent_config(self.config_path, self.node_name, self.overrides)
        except ConfigInvalid as exc:
            self.log(f"host-probe agent: reload refused, keeping the running config: {exc}")
            return
        changed = [name for name in ENGINE_FIELDS if getattr(config, name) != getattr(self.config, name)]
        if changed:
            self.log(f"host-probe agent: {', '.join(changed)} changed: applied at the next restart "
                     "(the programs are not reloaded)")
        self.config = config.model_copy(update={name: getattr(self.config, name) for name in ENGINE_FIELDS})
        self._close_sources()
        self.sources = build_sources(self.config)
        self._follow_sources()
        self.refused.clear()
        self.seen.clear()
        self.next_poll.clear()
        self.log(f"host-probe agent: reloaded {self.config_path}: {len(self.sources)} discovery sources")
        self.discover()

    # -- status ----------------------------------------------------------------
    def status(self) -> dict:
        recordings = self.engine.recordings.values()
        return {
            "pid": os.getpid(),
            "started_at": self.started_at.isoformat(),
            "written_at": datetime.now(timezone.utc).isoformat(),
            "config": str(self.config_path),
            "window_s": self.config.window,
            "max_workloads": self.config.max_workloads,
            # pods' containers the kernel registered as made, waiting for their source to name them
            "unclaimed_containers": len(self.engine.table.children),
            "spare_slots": len(self.engine.table.pooled),
            "pod_cgroups": self.engine.table.registered,
            "containers_made_without_a_spare_slot": self.engine.table.unslotted,
            "workloads": [{
                "key": r.workload.key, "service": r.info.service, "version": r.info.version, "role": r.info.role,
                "scope": r.workload.scope, "slot": r.slot, "recording": r.uuid, "windows": r.index,
                "lost": dict(r.profile_lost), "spooled": r.sink.pending,
            } for r in recordings],
            "refused": sorted(self.refused),
            "sources": {name: (error or "ok") for name, error in self.source_errors.items()},
            "spool_depth": self.engine.sender.pending() if self.engine.sender else 0,
            "spool_corrupt_lines": self.engine.sender.corrupt_lines if self.engine.sender else 0,
            "rejected_records": self.engine.sender.rejected if self.engine.sender else 0,
            "last_drain_ms": round(self.engine.last_drain_s * 1000, 1),
            "last_drain_cpu_ms": round(self.engine.last_drain_cpu_s * 1000, 1),
        }

    def write_status(self) -> None:
        path = self.config.status_file
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            temporary = path.with_name(path.name + ".tmp")
            temporary.write_text(json.dumps(self.status(), indent=2) + "\n")
            temporary.replace(path)  # a reader never sees half a file
        except OSError as exc:
            self.log(f"host-probe agent: cannot write the status file {path} ({exc.strerror})")

    # -- the loop --------------------------------------------------------------
    def run(self) -> int:
        engine = self.engine
        engine.start()
        self._follow_sources()  # after the compile: the docker SDK must not add to its peak RSS
        if self.config.metrics_address:
            self.metrics.serve(self.config.metrics_address)
        handlers = {signal.SIGINT: self._request_stop, signal.SIGTERM: self._request_stop,
                    signal.SIGHUP: self._request_reload}
        previous = {sig: signal.signal(sig, handler) for sig, handler in handlers.items()}
        self.log(f"host-probe agent: {len(self.sources)} discovery sources, up to {self.config.max_workloads} "
                 f"workloads, windows of {self.config.window:g}s")
        try:
            next_poll = 0.0
            while not self.stop_requested:
                if self.reload_requested or self._mtime() != self.config_mtime:
                    self.reload()
                self._drop_refused()
                if time.monotonic() >= next_poll:
                    self.discover()
                    self.write_status()
                    next_poll = time.monotonic() + self.config.poll_interval
                engine.poll(max_ms=int(max(1, min(100, (next_poll - time.monotonic()) * 1000))),
                            wake_fd=self.wake.fd)
                if self.wake.take():
                    self._expect()  # in the kernel before runc makes the cgroup: no source is asked
                if self.engine.table.parents:
                    engine.collect_children()  # containers made in watched pods: made expectations
                made = set(engine.made_expected()) if self.engine.table.expected else set()
                if made - self.made:
                    # made since the last look: add it now if its source lists it already (a
                    # container's runtime may say it runs a little later; its counts are held)
                    self.next_poll.clear()
                    self.discover()
                    self.next_poll.clear()  # and at the next round, however soon, if it was not listed yet
                self.made = made
                if engine.window_due():
                    self.metrics.observe_windows(engine.drain_window(), engine.last_drain_s)
                    self.metrics.observe_sender(engine.sender)
                    self.write_status()
        finally:
            self._close_sources()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            self.metrics.observe_windows(engine.close(), engine.last_drain_s)
            self.write_status()
        return 0
