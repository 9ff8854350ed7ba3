"""What a feature means for the gate: allow-listed, sensitive, and how much a new
one weighs (its score group, severity, and the hard limit it counts against).

The weighting follows what an attacker or a broken build does first: read a
credential, spawn a shell, phone a new host, open a port, drop a file where the
service never writes.
"""

from __future__ import annotations

import functools
import posixpath
from dataclasses import dataclass, replace
from typing import Iterable, Optional

from gate_server.analysis.config import GateConfig
from gate_server.analysis.patterns import GlobSet, TrailingGlobSet, key_matcher
from gate_contract.keys import UNIX, FileKey, parse_address, parse_file_key
from gate_contract.kinds import ALLOW_LISTS, BY_NAME, RULES, rule_groups


# Capabilities that reach a file, a program or the network past the keys the probe
# makes where its hook is sys_enter (docs/probe.md, "Routes around the probe"), or
# reach into another process: new in a canary, each is a pause (issue 24).
RISKY_SYSCALLS = {
    "io_uring_setup": "io_uring: opens, reads and connects without their syscalls",
    "open_by_handle_at": "opens a file by handle, with no path",
    "name_to_handle_at": "file handles, to open a file later with no path",
    "memfd_create": "an anonymous file, to run a program no path names",
    "ptrace": "reads and writes another process",
    "process_vm_readv": "reads another process's memory",
    "process_vm_writev": "writes another process's memory",
}
RISKY_SOCKET_FAMILIES = {"packet": "raw frames, past every address the probe keys"}


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


@functools.cache
def _weighing(kind: str, rule_name: str) -> tuple[str, str, str, Optional[str]]:
    """(group, severity, rule, limit) of a rule of the feature-kind table (gate_contract/kinds.py) for `kind`."""
    rule = RULES[rule_name]
    group = rule.group or (kind if kind in rule_groups(rule) else rule_groups(rule)[0])
    return group, rule.severity, rule.name, rule.limit


def _meaning(kind: str, rule_name: str, what: str, recurring_only: bool = False) -> Meaning:
    return Meaning(*_weighing(kind, rule_name), what, recurring_only)


class Rules:
    def __init__(self, config: GateConfig, baseline_write_paths: Iterable[str] = ()):
        sensitive = config.sensitive_paths
        self._sensitive = GlobSet(sensitive.effective())
        self._sensitive_tails = TrailingGlobSet(sensitive.effective())
        self._not_sensitive = GlobSet(sensitive.exclude)
        self._allowed = {kind: key_matcher(kind, getattr(config.allow, field))
                         for field, allowed in ALLOW_LISTS.items() for kind in allowed.kinds}
        self._known_writes = GlobSet(config.known_write_paths)
        self._system_daemons = GlobSet(config.local_ipc.system_daemons)
        self._system_daemon_severity = config.local_ipc.system_daemon_severity
        self._control_sockets = GlobSet(config.local_ipc.control_sockets)
        # Directories the baseline already writes to (or makes a unix socket in): a new file
        # there (a new log name, a cache entry, a socket's lock) is churn, not "a write outside
        # known directories".
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
        allowed = self._allowed.get(kind)
        return allowed is not None and allowed(key)

    def is_known_write(self, path: str) -> bool:
        return self._known_writes.matches(path) or posixpath.dirname(path) in self._baseline_write_dirs

    def new_feature(self, kind: str, key: str) -> Meaning:
        """How a feature the baseline never showed weighs: its kind's first rule, unless
        what the key says picks another of the kind's rules."""
        if kind == "file":
            return self._new_file(key)
        feature_kind = BY_NAME[kind]
        what = feature_kind.what.format(key=key)
        if kind == "syscall" and key in RISKY_SYSCALLS:
            return _meaning(kind, "new_risky_capability", f"{what} ({RISKY_SYSCALLS[key]})")
        family = key.split("/", 1)[0]
        if kind == "socket" and family in RISKY_SOCKET_FAMILIES:
            return _meaning(kind, "new_risky_capability", f"{what} ({RISKY_SOCKET_FAMILIES[family]})")
        if any(rule.name == "new_ephemeral_bind" for rule in feature_kind.rules) \
                and parse_address(key).is_ephemeral:
            # A client binding an ephemeral port (DNS resolvers do) listens on nothing.
            return _meaning(kind, "new_ephemeral_bind", what)
        if kind == "connect":
            return self._new_connect(key)
        return _meaning(kind, feature_kind.rules[0].name, what)

    def _new_connect(self, key: str) -> Meaning:
        address = parse_address(key)
        if address.family == UNIX and address.path:
            if self._control_sockets.matches(address.path):
                return _meaning("connect", "new_control_socket",
                                f"connect to the container runtime or orchestrator socket {address.path} "
                                "(local_ipc.control_sockets: whoever connects can start a privileged container)")
            if self._system_daemons.matches(address.path):
                daemon = _meaning("connect", "new_system_ipc", f"connect to the system daemon socket {address.path} "
                                  "(local_ipc.system_daemons: what the service's libraries reach on their own)")
                return replace(daemon, severity=self._system_daemon_severity)
        return _meaning("connect", "new_destination", BY_NAME["connect"].what.format(key=key))

    def _new_file(self, key: str) -> Meaning:
        file = parse_file_key(key)
        path, mode = file.path, file.mode
        verb = {"r": "read", "w": "write", "rw": "read-write"}[mode]
        if self.is_sensitive_key(file):
            unresolved = " (unresolved: it may be a sensitive file)" if file.is_unresolved else ""
            return _meaning("file", "sensitive_access", f"{verb} of sensitive path {path}{unresolved}")
        if "w" in mode and not self.is_known_write(path):
            return _meaning("file", "new_write_path",
                            f"{verb} of {path} (outside every directory the baseline writes to)",
                            recurring_only=not path.startswith("/"))
        return _meaning("file", "new_file", f"{verb} of {path}")

    def missing_feature(self, kind: str, key: str) -> Meaning:
        """How a stable baseline feature the canary never showed weighs: modest, except
        that a port no longer listened on is usually a broken service."""
        return Meaning(kind, BY_NAME[kind].missing_severity, "missing", None, f"{kind} {key}")


def baseline_write_paths(keys: list[tuple[str, str]], rows: Iterable[int]) -> list[str]:
    """Paths of the file features at `rows` that were opened for writing, and of the unix
    sockets bound at `rows` (binding one makes its file: a write in its directory)."""
    paths = []
    for row in rows:
        kind, key = keys[row]
        if kind == "bind":
            address = parse_address(key)
            if address.family == UNIX and address.path.startswith("/"):  # not abstract ("@name")
                paths.append(address.path)
            continue
        file = parse_file_key(key)
        if kind == "file" and "w" in file.mode:
            # an absolute name gone before the drain still names its directory
            paths.append(file.lexical_path if file.lexical_path.startswith("/") else file.path)
    return paths
