"""Turn the kernel's detail keys (struct detail_key, struct file_key in
bpf/probe.h) into normalised feature keys, built by gate_contract.keys
from structured fields: normalisation sees a path or a port, never a string it
has to split again."""

from __future__ import annotations

import ipaddress
import os
import socket
from dataclasses import dataclass

from gate_contract.kinds import ADDRESS_KINDS

from gate_contract.keys import INET, INET6, UNIX, Address, FeatureKey, file_key, socket_key
from host_probe.keys.canonical import Canonicaliser
from host_probe.kernel.contract import DETAIL_KINDS, OPEN_MODES, PATH_RESOLVED, PATH_TRUNCATED, PORT_ASKED
from host_probe.keys.normalise import DEFAULT_EPHEMERAL_PORTS, normalise_address, normalise_path

FAMILY_NAMES = {socket.AF_INET: INET, socket.AF_INET6: INET6, socket.AF_UNIX: UNIX,
                socket.AF_NETLINK: "netlink", socket.AF_PACKET: "packet"}
TYPE_NAMES = {socket.SOCK_STREAM: "stream", socket.SOCK_DGRAM: "dgram", socket.SOCK_RAW: "raw",
              socket.SOCK_SEQPACKET: "seqpacket", socket.SOCK_RDM: "rdm"}


def family_name(family: int) -> str:
    return FAMILY_NAMES.get(family, f"af{family}")


def c_text(raw) -> str:
    """A NUL-terminated C char array as text."""
    return bytes(raw).split(b"\0", 1)[0].decode("utf-8", "replace")


def address(family: int, addr: bytes, port: int, path: str) -> Address:
    if family == socket.AF_INET:
        return Address(INET, str(ipaddress.IPv4Address(bytes(addr[:4]))), port)
    if family == socket.AF_INET6:
        return Address(INET6, str(ipaddress.IPv6Address(bytes(addr[:16]))), port)
    if family == socket.AF_UNIX:
        return Address(UNIX, path=path)
    return Address(family_name(family))


def file_feature(path: bytes | str, mode: int, resolved: bool = True) -> FeatureKey:
    """("file", "<normalised path>:<mode>") for a canonical path (a C array or text)
    and a file_counts key's mode; ("file", "<unresolved><normalised path>:<mode>")
    for a path that could not be resolved."""
    text = c_text(path) if isinstance(path, (bytes, bytearray)) else path
    return "file", file_key(normalise_path(text), OPEN_MODES.get(mode, "r"), resolved)


@dataclass(frozen=True)
class OpenedPath:
    """A file key's struct path_text: the text as the process passed it, and its
    first opener in the window."""

    text: bytes
    tgid: int
    dirfd: int
    flags: int

    @classmethod
    def from_leaf(cls, leaf) -> "OpenedPath":
        return cls(bytes(leaf.path).split(b"\0", 1)[0], leaf.tgid, leaf.dirfd, leaf.flags)

    def canonical(self, canonicaliser: Canonicaliser, slot: int) -> tuple[str, bool]:
        """(the canonical path, resolved?), then normalised by file_feature. Looked up
        with the file system's own bytes; stored as UTF-8 text. A path the kernel
        resolved itself (the fentry hook's bpf_d_path) is taken as it is."""
        if self.flags & PATH_RESOLVED:
            return self.text.decode("utf-8", "replace"), True
        found = canonicaliser.canonical(os.fsdecode(self.text), self.tgid, self.dirfd, slot,
                                        truncated=bool(self.flags & PATH_TRUNCATED))
        return os.fsencode(found.path).decode("utf-8", "replace"), found.resolved


def detail_feature(key, ephemeral_ports: tuple[int, int] = DEFAULT_EPHEMERAL_PORTS) -> FeatureKey | None:
    """(kind, normalised key) for a bcc detail_key, or None for a kind we do not know."""
    kind = DETAIL_KINDS.get(key.kind)
    if kind is None:
        return None
    if kind == "exec":
        return kind, normalise_path(c_text(key.path))
    if kind == "socket":
        return kind, socket_key(family_name(key.family), TYPE_NAMES.get(key.sock_type, f"type{key.sock_type}"))
    assert kind in ADDRESS_KINDS
    found = address(key.family, bytes(key.addr), key.port, c_text(key.path))
    return kind, str(normalise_address(kind, found, ephemeral_ports, port_asked=key.mode == PORT_ASKED))
