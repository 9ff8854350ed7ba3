"""The contract between the probe and the server: what both sides must agree on.

Records (recording, window), feature keys and their formats, roles, loss reasons,
durations, the errors both sides raise, the profile/window model the judge reads,
and what writes a window to the database (the SQLAlchemy models, the window writer,
the engine factory). `host_probe` imports this package and never `gate_server`;
`gate_server` imports it; it imports neither.

Import the submodules directly: this package imports nothing itself, so `records`,
`keys` and `errors` stay free of SQLAlchemy for the probe, which compiles its eBPF
program before it loads the database code.
"""
