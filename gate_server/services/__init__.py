"""The domain functions the HTTP views and the CLI call: checks, the service catalog, tokens.

Each takes an explicit SQLAlchemy `Session`; none knows about Flask, commits, or
builds SQL: the queries are gate_server/storage's, one module per domain.
"""
