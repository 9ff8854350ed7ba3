"""The one schema, shared by the probe and the server (never Flask, never bcc).

Import the submodules (models, engine, writer, ...) directly: this package imports
nothing itself, so `records` and `errors` stay free of SQLAlchemy for the probe,
which compiles its eBPF program before it loads the storage code.
"""
