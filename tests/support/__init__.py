"""Helpers for tests and benchmarks: real Postgres, requirement handling."""
