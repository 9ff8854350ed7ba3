"""What a feature means for the gate: allow-listed, sensitive, and how much a new
one weighs (its score group, severity, and the hard limit it counts against).

The weighting follows what an attacker or a broken build does first: read a
credential, spawn a shell, phone a new host, open a port, drop a file where the
service never writes.
"""

from __future__ import annotations

import fnmatch
import posixpath
from dataclasses import dataclass
from typing import Iterable, Optional

from gate_server.analysis.config import GateConfig
from gate_server.analysis.patterns import DestinationSet, GlobSet, TrailingGlobSet
from gate_contract.keys import FileKey, parse_address, parse_file_key


@dataclass(frozen=True)
class Meaning:
    group: str  # score group
    severity: str
    rule: str
    limit: Optional[str]  # a field of GateConfig.limits, or None
    what: str  # how a reason sentence names the feature
    # A key the judge cannot place (a relative path an older probe stored, an unresolved one) is news only
    # when recurring, whatever stability.one_off_rules says: "outside known directories"
    # cannot be decided for it, and one-off relative writes are a database's routine.
    recurring_only: bool = False


class Rules:
    def __init__(self, config: GateConfig, baseline_write_paths: Iterable[str] = ()):
        sensitive = config.sensitive_paths
        self._sensitive = GlobSet(sensitive.effective())
        self._sensitive_tails = TrailingGlobSet(sensitive.effective())
        self._not_sensitive = GlobSet(sensitive.exclude)
        allow = config.allow
        self._allow_files = GlobSet(allow.files)
        self._allow_execs = GlobSet(allow.execs)
        self._allow_destinations = DestinationSet(allow.destinations)
        self._allow_listeners = DestinationSet(allow.listeners)
        self._allow_syscalls = tuple(allow.syscalls)
        self._known_writes = GlobSet(config.known_write_paths)
        # Directories the baseline already writes to: a new file there (a new log
        # name, a new cache entry) is churn, not "a write outside known directories".
        self._baseline_write_dirs = {posixpath.dirname(path) for path in baseline_write_paths} - {"/", ""}

    def is_sensitive(self, path: str) -> bool:
        return self._sensitive.matches(path) and not self._not_sensitive.matches(path)

    def is_sensitive_key(self, file: FileKey) -> bool:
        """A canonical path by the sensitive globs; one the probe could not resolve by
        its trailing components (it may be any file of that name), so spelling a
        secret's path so that it cannot be resolved does not hide it."""
        if file.is_unresolved:
            path = file.lexical_path
            return self._sensitive_tails.matches(path) and not self._not_sensitive.matches(path)
        return self.is_sensitive(file.path)

    def is_sensitive_file(self, kind: str, key: str) -> bool:
        return kind == "file" and self.is_sensitive_key(parse_file_key(key))

    def is_allowed(self, kind: str, key: str) -> bool:
        if kind == "file":
            path = parse_file_key(key).path
            return self._allow_files.matches(path) or self._allow_files.matches(key)
        if kind == "exec":
            return self._allow_execs.matches(key)
        if kind == "connect":
            return self._allow_destinations.matches(key)
        if kind in ("listen", "bind"):
            return self._allow_listeners.matches(key)
        if kind == "syscall":
            return any(fnmatch.fnmatchcase(key, pattern) for pattern in self._allow_syscalls)
        return False

    def is_known_write(self, path: str) -> bool:
        return self._known_writes.matches(path) or posixpath.dirname(path) in self._baseline_write_dirs

    def new_feature(self, kind: str, key: str) -> Meaning:
        """How a feature the baseline never showed weighs."""
        if kind == "file":
            return self._new_file(key)
        if kind == "exec":
            return Meaning("exec", "high", "new_exec", "max_new_execs", f"exec {key}")
        if kind == "connect":
            return Meaning("connect", "high", "new_destination", "max_new_destinations", f"outbound connect to {key}")
        if kind in ("listen", "bind"):
            if parse_address(key).is_ephemeral:
                # A client binding an ephemeral port (DNS resolvers do) listens on nothing.
                return Meaning(kind, "low", "new_ephemeral_bind", None, f"{kind} on {key}")
            return Meaning(kind, "high", "new_listener", "max_new_listeners", f"{kind} on {key}")
        if kind == "syscall":
            return Meaning("syscall", "medium", "new_syscall", "max_new_syscalls", f"syscall {key}")
        if kind == "socket":
            return Meaning("socket", "medium", "new_socket_type", None, f"socket type {key}")
        return Meaning(kind, "low", "new_process_event", None, f"process event {key}")

    def _new_file(self, key: str) -> Meaning:
        file = parse_file_key(key)
        path, mode = file.path, file.mode
        verb = {"r": "read", "w": "write", "rw": "read-write"}[mode]
        if self.is_sensitive_key(file):
            unresolved = " (unresolved: it may be a sensitive file)" if file.is_unresolved else ""
            return Meaning("sensitive", "critical", "sensitive_access", "max_sensitive_access",
                           f"{verb} of sensitive path {path}{unresolved}")
        if "w" in mode and not self.is_known_write(path):
            return Meaning("file", "high", "new_write_path", "max_new_write_paths",
                           f"{verb} of {path} (outside every directory the baseline writes to)",
                           recurring_only=not path.startswith("/"))
        return Meaning("file", "low", "new_file", "max_new_files", f"{verb} of {path}")

    def missing_feature(self, kind: str, key: str) -> Meaning:
        """How a stable baseline feature the canary never showed weighs: modest, except
        that a port no longer listened on is usually a broken service."""
        severity = "medium" if kind in ("listen", "bind") else "low"
        return Meaning(kind, severity, "missing", None, f"{kind} {key}")


def baseline_write_paths(keys: list[tuple[str, str]], rows: Iterable[int]) -> list[str]:
    """Paths of the file features at `rows` that were opened for writing."""
    paths = []
    for row in rows:
        kind, key = keys[row]
        file = parse_file_key(key)
        if kind == "file" and "w" in file.mode:
            paths.append(file.path)
    return paths
