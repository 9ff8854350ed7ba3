"""The sockets of one network namespace, read from a member's /proc/<pid>/net/*.

/proc/<pid>/net/ shows the network namespace of <pid>, not the reader's, so a
process in a container (or under `unshare -n`) is read in its own namespace. The
tables are per namespace, not per process: the sockets a process holds are found
by matching the inodes of its fds ("socket:[inode]") against them.
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass

from gate_contract.keys import INET, INET6

# include/net/tcp_states.h
TCP_LISTEN = 0x0A
TCP_CLOSE = 0x07
# A socket in one of these states has a peer: connect() or accept() gave it one.
TCP_CONNECTED = {0x01, 0x02, 0x04, 0x05, 0x08, 0x09, 0x0B}  # ESTABLISHED, SYN_SENT, FIN_WAIT*, CLOSE_WAIT, LAST_ACK, CLOSING
UDP_CONNECTED = 0x01  # a connect()ed UDP socket is TCP_ESTABLISHED in the table

# (file, family, type): the type is the file's protocol, never guessed.
INET_TABLES = (
    ("tcp", INET, "stream"), ("tcp6", INET6, "stream"),
    ("udp", INET, "dgram"), ("udp6", INET6, "dgram"),
    ("raw", INET, "raw"), ("raw6", INET6, "raw"),
)
# The Type column of /proc/net/unix holds SOCK_* values.
UNIX_TYPES = {1: "stream", 2: "dgram", 5: "seqpacket"}
UNIX_LISTENING = 0x10000  # __SO_ACCEPTCON in the Flags column
UNIX_UNCONNECTED = 1  # SS_UNCONNECTED in the St column


@dataclass(frozen=True)
class InetSocket:
    family: str  # inet | inet6
    sock_type: str  # stream | dgram | raw
    state: int
    local_host: str
    local_port: int
    remote_host: str
    remote_port: int


@dataclass(frozen=True)
class UnixSocket:
    sock_type: str
    listening: bool
    unconnected: bool
    path: str  # "" unnamed; "@name" abstract (NULs shown as "@", as the kernel prints them)


Socket = InetSocket | UnixSocket


def read_namespace_sockets(pid: int) -> dict[int, Socket]:
    """inode -> socket, for every socket of <pid>'s network namespace.

    A table the kernel lacks (no IPv6, no raw) is skipped; an error reading
    the process itself (gone, not permitted) is the caller's to count.
    """
    sockets: dict[int, Socket] = {}
    for name, family, sock_type in INET_TABLES:
        lines = _table_lines(pid, name)
        for line in lines:
            inode, sock = _parse_inet_line(line, family, sock_type)
            if inode:
                sockets[inode] = sock
    for line in _table_lines(pid, "unix"):
        parsed = _parse_unix_line(line)
        if parsed:
            sockets[parsed[0]] = parsed[1]
    return sockets


def _table_lines(pid: int, name: str) -> list[str]:
    try:
        with open(f"/proc/{pid}/net/{name}") as table:
            return table.read().splitlines()[1:]
    except FileNotFoundError:
        if not _exists(pid):
            raise
        return []  # the kernel has no such table (IPv6 off, say)


def _exists(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat"):
            return True
    except FileNotFoundError:
        return False


def _parse_inet_line(line: str, family: str, sock_type: str) -> tuple[int, InetSocket]:
    # sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode ...
    fields = line.split()
    local_host, local_port = _hex_address(fields[1])
    remote_host, remote_port = _hex_address(fields[2])
    sock = InetSocket(family, sock_type, int(fields[3], 16), local_host, local_port, remote_host, remote_port)
    return int(fields[9]), sock


def _hex_address(text: str) -> tuple[str, int]:
    """'0100007F:1F90' -> ('127.0.0.1', 8080). The kernel prints the address
    as 32-bit words in host byte order, the port as a number."""
    host_hex, port_hex = text.split(":")
    words = [int(host_hex[i:i + 8], 16) for i in range(0, len(host_hex), 8)]
    packed = struct.pack(f"={len(words)}I", *words)
    # ipaddress formats as host_probe/keys.address does for the probe's keys
    host = ipaddress.IPv4Address(packed) if len(packed) == 4 else ipaddress.IPv6Address(packed)
    return str(host), int(port_hex, 16)


def _parse_unix_line(line: str) -> tuple[int, UnixSocket] | None:
    # Num RefCount Protocol Flags Type St Inode [Path] -- the path may hold spaces
    fields = line.split(maxsplit=7)
    if len(fields) < 7:
        return None
    path = fields[7] if len(fields) == 8 else ""
    sock = UnixSocket(
        sock_type=UNIX_TYPES.get(int(fields[4], 16), f"type{int(fields[4], 16)}"),
        listening=bool(int(fields[3], 16) & UNIX_LISTENING),
        unconnected=int(fields[5], 16) == UNIX_UNCONNECTED,
        path=path,
    )
    return int(fields[6]), sock

