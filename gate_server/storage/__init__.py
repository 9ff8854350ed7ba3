"""The server's own storage: every query of the server, one module per domain (checks,
decisions, suppressions, baselines, catalog, tokens, audit, policies, windows,
retention, jobs), loading profiles for the judge, migrations, and sorting database
failures. No module here commits: the caller's session decides. The schema, the
window writer and the engine factory are shared with the probe and live in
`gate_contract`.

Import the submodules directly: this package imports nothing itself.
"""
