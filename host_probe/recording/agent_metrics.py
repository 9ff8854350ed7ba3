"""The agent's own Prometheus metrics, in a registry of its own, served on the
config's metrics_address (loopback by default in the deployment examples)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server


class AgentMetrics:
    def __init__(self):
        self.registry = CollectorRegistry()
        self.sender_totals: dict = {}  # counter -> the sender's total it was brought up to
        self.workloads = Gauge("syscall_gate_agent_workloads", "Workloads being recorded", registry=self.registry)
        self.windows = Counter("syscall_gate_agent_windows", "Windows written", ["service", "role"],
                               registry=self.registry)
        self.lost = Counter("syscall_gate_agent_lost", "Events lost in kernel, by reason", ["reason"],
                            registry=self.registry)
        self.refused = Counter("syscall_gate_agent_refused_workloads",
                               "Workloads not watched (no free slot, or the destination refused them)",
                               registry=self.registry)
        self.discovery_errors = Counter("syscall_gate_agent_discovery_errors",
                                        "Discovery polls that failed, by source", ["source"], registry=self.registry)
        self.spool = Gauge("syscall_gate_agent_spooled_records", "Records waiting in the spool for the destination",
                           registry=self.registry)
        self.spool_corrupt_lines = Counter("syscall_gate_agent_spool_corrupt_lines",
                                           "Spool lines skipped because they were torn or not a record",
                                           registry=self.registry)
        self.rejected = Counter("syscall_gate_agent_rejected_records",
                                "Records the destination refused for good, set aside in the spool's rejected/",
                                registry=self.registry)
        self.drain_seconds = Histogram("syscall_gate_agent_drain_seconds", "Time to drain every workload's window",
                                       buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0),
                                       registry=self.registry)

    def observe_windows(self, written, drain_seconds: float) -> None:
        if not written:
            return
        self.drain_seconds.observe(drain_seconds)
        for recording, drops in written:
            self.windows.labels(recording.info.service, recording.info.role).inc()
            for reason, count in drops.items():
                if count:
                    self.lost.labels(reason).inc(count)

    def observe_sender(self, sender) -> None:
        """The sender thread's totals, as counters (it counts; this adds what is new)."""
        self.spool.set(sender.pending())
        for counter, total in ((self.spool_corrupt_lines, sender.corrupt_lines), (self.rejected, sender.rejected)):
            new = total - self.sender_totals.get(counter, 0)
            if new > 0:
                counter.inc(new)
                self.sender_totals[counter] = total

    def serve(self, address: str) -> None:
        host, _, port = address.rpartition(":")
        start_http_server(int(port), addr=host or "127.0.0.1", registry=self.registry)
