"""The `host-probe` command line: argument parsing and dispatch (cli), `doctor` (can
this host record?) and `status` (what the agent records now)."""
