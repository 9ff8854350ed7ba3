"""The host probe: eBPF (bpf/) loaded with bcc, scoped to one service or, as the node agent,
to every workload of a host; profile windows go to Postgres through gate_contract's shared
records and writer, or to the gate server's upload API. It imports nothing of gate_server."""

__version__ = "0.1.0"
