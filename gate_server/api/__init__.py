"""The HTTP API: one blueprint per resource, plus errors, auth and metrics shared by all."""
