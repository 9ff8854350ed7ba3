"""The host probe: eBPF (bpf/) loaded with bcc, scoped to one service, written as
profile windows through gate_server.storage."""

__version__ = "0.1.0"
