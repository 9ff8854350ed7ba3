"""Domain errors, each one sentence a client can act on. The API maps them to status codes."""

from __future__ import annotations

from typing import Optional


class DomainError(Exception):
    status = 400

    def __init__(self, message: str, field: Optional[str] = None):
        super().__init__(message)
        self.message = message
        self.field = field


class NotFound(DomainError):
    status = 404


class InvalidConfig(DomainError):
    """The threshold config failed validation; `field` is the path to the bad value."""

    status = 422


class Forbidden(DomainError):
    status = 403


class Conflict(DomainError):
    """The request contradicts what is stored (which is kept as it is)."""

    status = 409


class TooLarge(DomainError):
    """The request is within the byte limit but lists more entries than the server takes."""

    status = 413
