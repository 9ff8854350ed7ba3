"""The probe's errors, in one module that imports nothing of the probe (so the
loader, tracefs and the CLI can all raise and catch them without a cycle)."""

from __future__ import annotations


class ProbeUnavailable(RuntimeError):
    """The kernel or toolchain cannot run the probe; the message says what to do."""


class TracefsUnreadable(PermissionError):
    """tracefs exists but this user may not read it (it is root-only by default)."""


class ScopeError(ValueError):
    """Bad scope input (a pid, cgroup or command), stated in one line (the CLI exits 2)."""


class Unavailable(Exception):
    """A destination cannot take the record now (spool it and retry); the message says why."""


class Refused(Exception):
    """A destination will not take the record as sent; the message says why."""


class Rejected(Refused):
    """A destination will never take this record as it is (too large, a constraint it
    breaks), whatever the token: it is set aside and counted, the records after it go on."""
