"""Turn the kernel's detail keys (struct detail_key in bpf/probe.h) into the
feature keys of the contract: kind + key string, before normalisation."""

from __future__ import annotations

import ipaddress
import socket

# Mirrors enum detail_kind in bpf/probe.h (file opens have their own map, file_counts).
DETAIL_KINDS = {2: "exec", 3: "connect", 4: "bind", 5: "listen", 6: "socket"}
OPEN_MODES = {1: "r", 2: "w", 3: "rw"}
LOSS_REASONS = ("map_full", "ringbuf_reserve_failed", "rate_limited", "sampled_out", "unreadable")
PROCESS_CHANGES = ("fork", "thread", "exit", "exec")

FAMILY_NAMES = {socket.AF_INET: "inet", socket.AF_INET6: "inet6", socket.AF_UNIX: "unix",
                socket.AF_NETLINK: "netlink", socket.AF_PACKET: "packet"}
TYPE_NAMES = {socket.SOCK_STREAM: "stream", socket.SOCK_DGRAM: "dgram", socket.SOCK_RAW: "raw",
              socket.SOCK_SEQPACKET: "seqpacket", socket.SOCK_RDM: "rdm"}


def family_name(family: int) -> str:
    return FAMILY_NAMES.get(family, f"af{family}")


def _text(raw) -> str:
    return bytes(raw).split(b"\0", 1)[0].decode("utf-8", "replace")


def address(family: int, addr: bytes, port: int, path: str) -> str:
    if family == socket.AF_INET:
        return f"inet:{ipaddress.IPv4Address(bytes(addr[:4]))}:{port}"
    if family == socket.AF_INET6:
        return f"inet6:[{ipaddress.IPv6Address(bytes(addr[:16]))}]:{port}"
    if family == socket.AF_UNIX:
        return f"unix:{path}" if path else "unix:<unnamed>"
    return family_name(family)


def file_feature(path: bytes, mode: int) -> tuple[str, str]:
    """("file", "<path>:<mode>") for a file_counts key's path and mode."""
    return "file", f"{_text(path)}:{OPEN_MODES.get(mode, 'r')}"


def feature_of(key) -> tuple[str, str] | None:
    """(kind, raw key) for a bcc detail_key, or None for a kind we do not know."""
    kind = DETAIL_KINDS.get(key.kind)
    if kind is None:
        return None
    path = _text(key.path)
    if kind == "exec":
        return kind, path
    if kind == "socket":
        return kind, f"{family_name(key.family)}/{TYPE_NAMES.get(key.sock_type, f'type{key.sock_type}')}"
    return kind, address(key.family, bytes(key.addr), key.port, path)


def event_text(raw) -> str:
    return _text(raw)
