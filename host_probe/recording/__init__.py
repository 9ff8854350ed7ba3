"""Recording: one engine (load once, workload table, drain every window) behind two
front-ends, `host-probe record` for one workload (recorder) and `host-probe agent`
for every workload of the host (agent, its config and its own metrics)."""
