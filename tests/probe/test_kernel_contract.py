"""The kernel/userspace contract: bpf/probe.h's enums and constants against their
Python mirrors (host_probe/kernel/contract.py, gate_contract/keys.py) and
against this system's socket ABI. Parsed from the header's text, so a change on
one side that the other does not follow fails here, not in a recording."""

from __future__ import annotations

import re
import socket
from pathlib import Path

from gate_contract.keys import EVENT_STREAM_LOSSES, PROFILE_LOSSES
from host_probe.kernel import contract as kernel_contract
from host_probe.kernel.loader import detail_syscalls
from host_probe.keys import images

HEADER = (Path(__file__).resolve().parents[2] / "bpf" / "probe.h").read_text()


def enum(name: str) -> dict[str, int]:
    """The members of `enum <name> { ... }` with their values (implicit ones counted on)."""
    body = re.search(rf"enum {name} \{{(.*?)\}};", HEADER, re.S).group(1)
    body = re.sub(r"/\*.*?\*/", "", body, flags=re.S)
    members, value = {}, -1
    for item in filter(None, (part.strip() for part in body.split(","))):
        match = re.fullmatch(r"(\w+)(?:\s*=\s*(\d+))?", item)
        value = int(match.group(2)) if match.group(2) is not None else value + 1
        members[match.group(1)] = value
    return members


def defines() -> dict[str, int]:
    return {name: int(value) for name, value in re.findall(r"^#define (\w+) (\d+)", HEADER, re.M)}


def test_detail_kinds_match():
    kinds = enum("detail_kind")
    assert {value: name.removeprefix("KIND_").lower() for name, value in kinds.items() if name != "KIND_FILE"} \
        == kernel_contract.DETAIL_KINDS


def test_open_modes_match():
    names = {"MODE_READ": "r", "MODE_WRITE": "w", "MODE_READ_WRITE": "rw"}
    assert {value: names[name] for name, value in enum("open_mode").items()} == kernel_contract.OPEN_MODES


def test_loss_reasons_match_in_slot_order_and_split_into_profile_and_stream_losses():
    reasons = enum("loss_reason")
    assert reasons.pop("LOSS_REASONS") == len(kernel_contract.LOSS_REASONS)
    in_order = [name.removeprefix("LOSS_").lower() for name, _ in sorted(reasons.items(), key=lambda kv: kv[1])]
    assert in_order == list(kernel_contract.LOSS_REASONS)
    assert sorted(PROFILE_LOSSES + EVENT_STREAM_LOSSES) == sorted(kernel_contract.LOSS_REASONS
                                                                   + kernel_contract.DRAIN_LOSSES)
    assert not set(PROFILE_LOSSES) & set(EVENT_STREAM_LOSSES)


def test_path_flags_and_at_fdcwd_match():
    assert enum("path_flag") == {"PATH_TRUNCATED": kernel_contract.PATH_TRUNCATED,
                                 "PATH_RESOLVED": kernel_contract.PATH_RESOLVED}
    assert int(re.search(r"^#define SG_AT_FDCWD (-?\d+)", HEADER, re.M).group(1)) == kernel_contract.AT_FDCWD


def test_port_origin_matches():
    assert enum("port_origin") == {"PORT_UNKNOWN": 0, "PORT_ASKED": kernel_contract.PORT_ASKED}


def test_lru_maps_and_changes_match_in_slot_order():
    maps = enum("lru_map")
    assert maps.pop("LRU_MAPS") == len(kernel_contract.LRU_MAPS)
    assert [name.removeprefix("LRU_").lower() for name, _ in sorted(maps.items(), key=lambda kv: kv[1])] \
        == ["bound_sockets", "clone_flags", "argv0"] == list(kernel_contract.LRU_MAPS)
    changes = enum("lru_change")
    assert changes.pop("LRU_CHANGES") == len(kernel_contract.LRU_CHANGES)
    assert [name.removeprefix("LRU_ENTRY_").lower() for name, _ in sorted(changes.items(), key=lambda kv: kv[1])] \
        == list(kernel_contract.LRU_CHANGES)


def test_process_changes_match_in_slot_order():
    changes = enum("process_change")
    assert changes.pop("PROCESS_CHANGES") == len(kernel_contract.PROCESS_CHANGES)
    assert [name.removeprefix("PROCESS_").lower() for name, _ in sorted(changes.items(), key=lambda kv: kv[1])] \
        == list(kernel_contract.PROCESS_CHANGES)


def test_event_types_and_sizes_match():
    assert {value: name.removeprefix("EVENT_").lower() for name, value in enum("event_type").items()} \
        == kernel_contract.EVENT_TYPES
    assert defines()["SYSCALL_SLOTS"] == kernel_contract.SYSCALL_SLOTS


def test_exec_image_constants_match():
    assert defines()["IMAGE_BUCKETS"] == images.IMAGE_BUCKETS
    assert defines()["IMAGE_PATH_BYTES"] == images.IMAGE_PATH_BYTES


def test_every_detail_syscall_is_guarded_once_and_known_to_bcc():
    names = detail_syscalls()
    assert len(names) == len(set(names)) >= 12
    assert {"openat", "openat2", "connect", "bind", "listen", "execve", "sendto", "sendmsg", "sendmmsg"} <= set(names)


def test_the_socket_abi_written_in_probe_h_matches_this_system():
    values = defines()
    assert values["SG_AF_UNIX"] == socket.AF_UNIX
    assert values["SG_AF_INET"] == socket.AF_INET
    assert values["SG_AF_INET6"] == socket.AF_INET6
    # TCP_LISTEN: the state /proc/net/tcp shows for a listening socket (hex)
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        rows = [line.split() for line in open("/proc/net/tcp").read().splitlines()[1:]]
        states = {int(row[3], 16) for row in rows if int(row[1].split(":")[1], 16) == port}
    assert states == {values["SG_TCP_LISTEN"]}
