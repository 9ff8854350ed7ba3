"""API tokens: high-entropy secrets shown once, stored as SHA-256 hashes, scoped to services
(and an ingest token, optionally, to one role and a version pattern).

A SHA-256 of a 256-bit random secret is enough (no salt, no slow KDF): the secret
is not a human password, so there is nothing to brute-force from the hash.
"""

from __future__ import annotations

import fnmatch
import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Iterable, Optional

from sqlalchemy.orm import Session

from gate_contract.profile import as_utc
from gate_server.services.errors import DomainError, NotFound
from gate_server.storage import tokens as stored
from gate_contract.models import ApiToken
from gate_contract.records import ROLES

SCOPES = ("check", "ingest", "decide", "admin")
# A version pattern fits its column (storage/models.py, ApiToken.version_pattern).
MAX_VERSION_PATTERN = 200
ALL_SERVICES = "*"
TOKEN_PREFIX = "sg_"
# Characters of the token kept in clear to tell tokens apart in listings.
LISTED_PREFIX_LENGTH = 12
# last_used_at is a hint for audits, not a log: write it at most this often per token.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def hash_token(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class TokenIdentity:
    """Who is calling: the scope and the services a verified token may act on."""

    token_id: int
    prefix: str
    scope: str
    services: tuple[str, ...]
    description: str = ""  # who or what uses it: the actor of an audited change
    # An ingest token's limits (None: any role, any version): a canary host's token
    # must not write the baseline its canary is judged against.
    role: Optional[str] = None
    version_pattern: Optional[str] = None

    @property
    def is_admin(self) -> bool:
        return self.scope == "admin"

    def may_access(self, service: str) -> bool:
        return self.is_admin or ALL_SERVICES in self.services or service in self.services

    def upload_refusal(self, version: str, role: str) -> Optional[tuple[str, str]]:
        """(the field at fault, what this token uploads) when its role or version pattern
        excludes a recording of `version` and `role`; None when it may upload it."""
        if self.role is not None and role != self.role:
            return "role", f"{self.role} recordings only (made with --role {self.role})"
        # fnmatchcase: a pattern means the same on every host (fnmatch folds case on Windows).
        if self.version_pattern is not None and not fnmatch.fnmatchcase(version, self.version_pattern):
            pattern = self.version_pattern
            return "version", f"versions matching {pattern!r} only (made with --version {pattern!r})"
        return None

    def visible(self, names: Iterable[str]) -> list[str]:
        return [name for name in names if self.may_access(name)]


@dataclass(frozen=True)
class CreatedToken:
    secret: str
    token_id: int
    prefix: str
    scope: str
    services: tuple[str, ...]
    description: str = ""  # who or what uses it: the actor of an audited change
    role: Optional[str] = None
    version_pattern: Optional[str] = None


def _upload_limits(scope: str, role: Optional[str], version_pattern: Optional[str]) -> tuple:
    """(role, version pattern) as stored, each None for "any"; refused where they mean nothing."""
    if role is None and version_pattern is None:
        return None, None
    if scope != "ingest":
        raise DomainError("--role and --version apply to ingest tokens only (a check token reads every role "
                          "and version of its services)", field="role" if role is not None else "version_pattern")
    if role is not None and role not in ROLES:
        raise DomainError(f"unknown role {role!r}: choose one of {', '.join(ROLES)}", field="role")
    if role is not None and version_pattern is None:
        # A role says which recordings a host writes; the versions say which releases. A
        # canary host's token bound to its release cannot write under another (the
        # baseline's among them); '*' says, on purpose, any version but the baseline's.
        raise DomainError(f"a token limited to --role {role} needs --version PATTERN too: the versions it may "
                          "write, e.g. 'v4*' (or '*': any version but the baseline's)", field="version_pattern")
    if version_pattern is not None:
        version_pattern = version_pattern.strip()
        if not version_pattern or len(version_pattern) > MAX_VERSION_PATTERN or "\x00" in version_pattern:
            raise DomainError(f"--version needs a pattern of 1 to {MAX_VERSION_PATTERN} characters, "
                              "e.g. 'v4*' (fnmatch: * any characters, ? one, [seq] one of seq)",
                              field="version_pattern")
    return role, version_pattern


def create_token(session: Session, *, scope: str, services: Iterable[str], description: str = "",
                 role: Optional[str] = None, version_pattern: Optional[str] = None) -> CreatedToken:
    if scope not in SCOPES:
        raise DomainError(f"unknown scope {scope!r}: choose one of {', '.join(SCOPES)}", field="scope")
    names = tuple(dict.fromkeys(s.strip() for s in services if s.strip()))
    role, version_pattern = _upload_limits(scope, role, version_pattern)
    if scope == "admin":
        names = (ALL_SERVICES,)
    elif not names:
        raise DomainError("a check, ingest or decide token needs at least one --service", field="services")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    prefix = secret[:LISTED_PREFIX_LENGTH]
    row = stored.add(session, ApiToken(token_hash=hash_token(secret), prefix=prefix, description=description[:200],
                                       services=list(names), scope=scope, role=role, version_pattern=version_pattern))
    return CreatedToken(secret=secret, token_id=row.id, prefix=prefix, scope=scope, services=names, role=role,
                        version_pattern=version_pattern)


def verify_token(session: Session, secret: str) -> Optional[TokenIdentity]:
    """The identity behind a presented secret, or None if it is unknown or revoked."""
    token = stored.active_by_hash(session, hash_token(secret))
    if token is None:
        return None
    now = datetime.now(timezone.utc)
    last_used = as_utc(token.last_used_at) if token.last_used_at is not None else None
    if last_used is None or now - last_used > LAST_USED_RESOLUTION:
        stored.mark_used(session, token.id, now)
    return _identity(token)


def active_identity(session: Session, token_id: int) -> Optional[TokenIdentity]:
    """The identity of a token remembered by id (a dashboard session), None once it is revoked."""
    token = stored.active_by_id(session, token_id)
    return None if token is None else _identity(token)


def _identity(token: ApiToken) -> TokenIdentity:
    return TokenIdentity(token_id=token.id, prefix=token.prefix, scope=token.scope,
                         services=tuple(token.services or ()), description=token.description or "",
                         role=token.role, version_pattern=token.version_pattern)


def list_tokens(session: Session) -> list[ApiToken]:
    return stored.all_tokens(session)


def revoke_token(session: Session, prefix: str) -> ApiToken:
    """Revoke the one active token whose listed prefix starts with `prefix`."""
    matches = stored.active_by_prefix(session, prefix)
    if not matches:
        raise NotFound(f"no active token starts with {prefix!r} (see: gate-server tokens list)")
    if len(matches) > 1:
        raise DomainError(f"{len(matches)} active tokens start with {prefix!r}; give more of the prefix")
    matches[0].revoked_at = datetime.now(timezone.utc)
    return matches[0]
