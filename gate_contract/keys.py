"""Feature keys: the one owner of what a profile's (kind, key) pairs look like.

The probe builds keys here from structured fields (after normalising those
fields), the storage stores them as strings, and the judge parses them back here.
No other module formats or splits a key.

A file key's path is absolute and canonical (the probe resolved `.`, `..`, `//`,
the working directory or dirfd, /proc/self and symlinks in the opener's view),
so it always starts with '/'. One the probe could not resolve (the opener gone
before its drain, a component it may not read, a symlink loop, a path cut at
255 bytes) starts with UNRESOLVED instead, followed by its best lexical form
(relative if it was typed relative; a cut path ends in TRUNCATED): a key that
starts with '/' is canonical, one that starts with '<' says it is not, and no
file name can fake either.

    kind       key                               example
    syscall    syscall name                      openat
    file       <path>:<mode>                     /etc/app.conf:r
               <unresolved><lexical path>:<mode>   <unresolved>../../etc/shadow:r
    exec       program path                      /bin/sh
    connect    <address>                         inet:10.0.0.5:5432, inet6:[::1]:443, unix:/run/x.sock
    listen     <address>                         inet:0.0.0.0:8080
    bind       <address>                         inet:0.0.0.0:<ephemeral>
    socket     <family>/<type>                   inet/stream
    process    fork | thread | exit | exec       fork
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

# The kinds themselves (names, shapes, hooks, what the judge makes of them): gate_contract/kinds.py.
FILE_MODES = ("r", "w", "rw")
PROCESS_CHANGES = ("fork", "thread", "exit", "exec")

# Placeholders normalisation puts where per-run noise was.
PID = "<pid>"
NUMBER = "<n>"
TEMP = "<tmp>"
HEX = "<hex>"
EPHEMERAL = "<ephemeral>"
UNNAMED = "<unnamed>"  # a unix socket with no path (socketpair, autobind)
UNRESOLVED = "<unresolved>"  # leads a file path the probe could not make canonical
TRUNCATED = "<truncated>"    # ends a file path cut at the kernel's 255 bytes

INET, INET6, UNIX = "inet", "inet6", "unix"

FeatureKey = tuple[str, str]  # (kind, key)
Port = Union[int, str]  # a number, or EPHEMERAL


@dataclass(frozen=True)
class FileKey:
    path: str
    mode: str = "r"

    def __str__(self) -> str:
        return f"{self.path}:{self.mode}"

    @property
    def is_unresolved(self) -> bool:
        return self.path.startswith(UNRESOLVED)

    @property
    def lexical_path(self) -> str:
        """The path as far as it is known: an unresolved key's text after the marker."""
        return self.path.removeprefix(UNRESOLVED)


@dataclass(frozen=True)
class Address:
    """A socket address: inet/inet6 with host and port, unix with a path, or
    another family by name alone (netlink, packet...)."""

    family: str
    host: str = ""
    port: Port = ""
    path: str = ""

    def __str__(self) -> str:
        if self.family == INET:
            return f"inet:{self.host}:{self.port}"
        if self.family == INET6:
            return f"inet6:[{self.host}]:{self.port}"
        if self.family == UNIX:
            return f"unix:{self.path or UNNAMED}"
        return self.family

    @property
    def is_ephemeral(self) -> bool:
        return self.port in (EPHEMERAL, 0, "0")


def file_key(path: str, mode: str, resolved: bool = True) -> str:
    """'<path>:<mode>' for a canonical path; for one that could not be resolved,
    '<unresolved><lexical path>:<mode>'."""
    if mode not in FILE_MODES:
        raise ValueError(f"file mode {mode!r} is not one of {FILE_MODES}")
    return str(FileKey(path if resolved else UNRESOLVED + path, mode))


def parse_file_key(key: str) -> FileKey:
    """'/etc/shadow:r' -> FileKey('/etc/shadow', 'r'); a key without a mode reads as 'r'."""
    path, sep, mode = key.rpartition(":")
    if sep and mode in FILE_MODES:
        return FileKey(path, mode)
    return FileKey(key, "r")


def parse_address(key: str) -> Address:
    """The inverse of str(Address): 'inet:10.0.0.5:5432', 'inet6:[::1]:443', 'unix:/x'."""
    family, _, rest = key.partition(":")
    if family == UNIX:
        return Address(UNIX, path="" if rest == UNNAMED else rest)
    if family == INET6 and rest.startswith("["):
        host, _, port = rest[1:].partition("]")
        return Address(INET6, host, _port(port.lstrip(":")))
    if family == INET:
        host, _, port = rest.rpartition(":")
        return Address(INET, host, _port(port))
    return Address(key)


def _port(text: str) -> Port:
    return int(text) if text.isdigit() else text


def socket_key(family: str, sock_type: str) -> str:
    return f"{family}/{sock_type}"

# A window's drops, by reason (bpf/probe.h's enum loss_reason). The ring buffer
# carries only the process-event stream (`host-probe record -v`): its losses are
# stored with the window but are not losses of the profile the judge reads.
# `lru_evicted` and `argv0_evicted` are entries the kernel's LRU maps evicted,
# counted by the drain (host_probe/kernel/lru_evictions.py).
PROFILE_LOSSES = ("map_full", "unreadable", "pid_beyond_table", "path_truncated", "lru_evicted")
EVENT_STREAM_LOSSES = ("ringbuf_reserve_failed", "rate_limited", "sampled_out", "argv0_evicted")
# Losses of whole windows, which the probe reports in the next window it writes for
# the same service, version and role (a window has no other place to say it):
# window_lost: the window a probe stopped hard (kill -9) never drained, its events
# estimated by the recording's mean per window; window_rejected: the events of a
# window the destination refused for good (a 413, a constraint); window_unspooled:
# the events of a window the spool's full disk did not take.
WINDOW_LOSSES = ("window_lost", "window_rejected", "window_unspooled")
