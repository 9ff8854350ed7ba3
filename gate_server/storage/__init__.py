"""The server's own storage: loading profiles for the judge, policies, migrations,
and sorting database failures. The schema, the window writer and the engine factory
are shared with the probe and live in `gate_contract`.

Import the submodules directly: this package imports nothing itself.
"""
