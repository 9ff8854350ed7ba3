"""The one schema, shared by the probe and the server (never Flask, never bcc)."""

from gate_server.storage.engine import DatabaseError, make_engine, mask_url
from gate_server.storage.models import Base

__all__ = ["Base", "DatabaseError", "make_engine", "mask_url"]
