"""The discovery tests' fixtures live in tests/support/container_fixtures.py (shared with
the agent's tests)."""
