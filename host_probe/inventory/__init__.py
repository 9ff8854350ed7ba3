"""Inventory at attach: what already running processes hold, as feature keys.

A recording that attaches to a running service (`--pid`, `--cgroup`, a workload
the agent discovers) misses what the service did at start-up: its bind/listen,
the config and log files it keeps open. take_inventory() reads those from /proc
so the first window can carry them, and a fresh canary of the same program is
not judged new for its own start-up (issue 18).

What is read (per thread group; a thread's pid is read as its tgid):
  /proc/<pid>/fd/*, fdinfo/*   open files with their access mode; socket inodes
  /proc/<pid>/net/{tcp,tcp6,udp,udp6,raw,raw6,unix}
                               the sockets of the process's own network namespace
                               (a container's, not the reader's), matched by inode
  /proc/<pid>/exe, cmdline     the program (kind exec)
  /proc/<pid>/cwd              the working directory (no feature kind: Inventory.cwds)

Paths are as readlink() of /proc gives them: as the process sees them when it
has its own mount namespace (a container), which is how the probe's keys see
them too; see process.py for chroot. docs/inventory.md lists the limits.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Union

from gate_contract.keys import UNIX, Address, FeatureKey, FileKey, socket_key
from host_probe.inventory.process import ProcessGone, ProcessHoldings, read_process, start_time, thread_group_of
from host_probe.inventory.sockets import (TCP_CLOSE, TCP_CONNECTED, TCP_LISTEN, UDP_CONNECTED, InetSocket, Socket,
                                          UnixSocket, read_namespace_sockets)
from host_probe.keys.normalise import DEFAULT_EPHEMERAL_PORTS, normalise_path, normalise_port

__all__ = ["Inventory", "Held", "take_inventory"]

# (kind, value): value is an Address (connect/listen/bind), a FileKey (file), or
# a str (exec path; socket "family/type"). Formatted to a key only by features().
Held = tuple[str, Union[Address, FileKey, str]]


@dataclass
class Inventory:
    held: set[Held] = field(default_factory=set)
    cwds: set[str] = field(default_factory=set)
    deleted_files: set[str] = field(default_factory=set)  # files and exes unlinked since opened (keys keep the path)
    tgids: list[int] = field(default_factory=list)  # the processes read to the end
    vanished: int = 0  # processes that exited (or were never there) while being read
    unreadable: int = 0  # processes some part of which we were not permitted to read
    unmatched_sockets: int = 0  # socket fds found in no table read (netlink, packet, another namespace's)

    def features(self) -> dict[FeatureKey, int]:
        """(kind, key) -> 1, the key in the contract's format (gate_contract.keys)."""
        return {(kind, str(value)): 1 for kind, value in self.held}


STANDARD_STREAMS = (0, 1, 2)


def take_inventory(pids: Iterable[int], ephemeral_ports: tuple[int, int] = DEFAULT_EPHEMERAL_PORTS,
                   normalise: bool = True, standard_streams: bool = True) -> Inventory:
    """Read what the running processes `pids` hold. Never raises for a process
    that vanishes or may not be read: those are counted in the result.

    `ephemeral_ports` is the range of the processes' network namespace
    (/proc/sys/net/ipv4/ip_local_port_range there). With normalise=False the
    fields are left as read (paths, ports), for a caller that normalises itself.
    With standard_streams=False, files held on fds 0-2 (what a launcher handed the
    process: a log file per instance, say) are left out.
    """
    inventory = Inventory()
    namespaces: dict[str, dict[int, Socket]] = {}
    seen: set[int] = set()
    for pid in pids:
        try:
            tgid = thread_group_of(pid)
            if tgid in seen:
                continue
            seen.add(tgid)
            started = start_time(tgid)
            holdings = read_process(tgid)
            sockets = _namespace_sockets(tgid, holdings, namespaces)
            if start_time(tgid) != started:
                raise ProcessGone(tgid)
        except (ProcessGone, FileNotFoundError, ProcessLookupError):
            inventory.vanished += 1
            continue
        except PermissionError:
            inventory.unreadable += 1
            continue
        if holdings.unreadable:
            inventory.unreadable += 1
        inventory.tgids.append(tgid)
        if not standard_streams:
            holdings.files = [opened for opened in holdings.files if opened.fd not in STANDARD_STREAMS]
        _add_process(inventory, holdings, sockets)
    if normalise:
        # A listener's port is the one its workload asked for, as the probe keys a
        # listener it sees start (only a requested 0 is <ephemeral>); /proc/net/tcp
        # cannot tell an asked port inside ip_local_port_range from a chosen one, and
        # a listening port is asked for far more often than not.
        listening = {value for kind, value in inventory.held if kind == "listen"}
        inventory.held = {_normalised(item, ephemeral_ports, item[1] in listening) for item in inventory.held}
        inventory.cwds = {normalise_path(cwd) for cwd in inventory.cwds}
        inventory.deleted_files = {normalise_path(path) for path in inventory.deleted_files}
    return inventory


def _namespace_sockets(tgid: int, holdings: ProcessHoldings, cache: dict[str, dict[int, Socket]]) -> dict[int, Socket]:
    if not holdings.socket_inodes:
        return {}
    try:
        if holdings.net_namespace is None:  # namespace unknown: read, but do not share the reading
            return read_namespace_sockets(tgid)
        cached = cache.get(holdings.net_namespace)
        # read again when this process holds a socket made since the last reading
        if cached is None or not holdings.socket_inodes <= cached.keys():
            cache[holdings.net_namespace] = read_namespace_sockets(tgid)
        return cache[holdings.net_namespace]
    except PermissionError:
        holdings.unreadable.append("net")
        return {}


def _add_process(inventory: Inventory, holdings: ProcessHoldings, sockets: dict[int, Socket]) -> None:
    held = inventory.held
    if holdings.exe:  # the file that runs, as the probe keys an exec (argv[0] is only the name invoked)
        held.add(("exec", holdings.exe))
    if holdings.exe_deleted:
        inventory.deleted_files.add(holdings.exe)
    if holdings.cwd:
        inventory.cwds.add(holdings.cwd)
    for opened in holdings.files:
        held.add(("file", FileKey(opened.path, opened.mode)))
        if opened.deleted:
            inventory.deleted_files.add(opened.path)
    listening_ports = {(s.family, s.sock_type, s.local_port) for s in sockets.values()
                       if isinstance(s, InetSocket) and s.state == TCP_LISTEN}
    for inode in holdings.socket_inodes:
        sock = sockets.get(inode)
        if sock is None:
            inventory.unmatched_sockets += 1
        elif isinstance(sock, UnixSocket):
            held.update(_unix_features(sock))
        else:
            held.update(_inet_features(sock, listening_ports))


def _unix_features(sock: UnixSocket) -> set[Held]:
    features: set[Held] = {("socket", socket_key(UNIX, sock.sock_type))}
    # An accepted connection shows its listener's path but is not bound itself:
    # only a listening or an unconnected socket with a path was bound by its holder.
    if sock.path and (sock.listening or sock.unconnected):
        address = Address(UNIX, path=sock.path)
        features.add(("bind", address))
        if sock.listening:
            features.add(("listen", address))
    return features


def _inet_features(sock: InetSocket, listening_ports: set[tuple[str, str, int]]) -> set[Held]:
    features: set[Held] = {("socket", socket_key(sock.family, sock.sock_type))}
    if sock.sock_type == "raw":
        return features  # the "port" of a raw socket is its protocol
    local = Address(sock.family, sock.local_host, sock.local_port)
    remote = Address(sock.family, sock.remote_host, sock.remote_port)
    if sock.sock_type == "stream":
        if sock.state == TCP_LISTEN:
            # bind() gave the address, the state change to LISTEN is what the probe keys as listen
            features.update({("bind", local), ("listen", local)})
        elif sock.state in TCP_CONNECTED and sock.remote_port:
            accepted = (sock.family, sock.sock_type, sock.local_port) in listening_ports
            if not accepted:
                features.add(("connect", remote))
        elif sock.state == TCP_CLOSE and sock.local_port:
            features.add(("bind", local))  # bound, neither listening nor connected
        return features
    # UDP: a local port is there after bind(), or after an implicit autobind by
    # sendto()/connect(); a connected socket's peer is its connect().
    if sock.state == UDP_CONNECTED and sock.remote_port:
        features.add(("connect", remote))
    elif sock.local_port:
        features.add(("bind", local))
    return features


def _normalised(item: Held, ephemeral_ports: tuple[int, int], listening: bool = False) -> Held:
    kind, value = item
    if isinstance(value, FileKey):
        return kind, FileKey(normalise_path(value.path), value.mode)
    if isinstance(value, Address):
        if value.family == UNIX:
            return kind, Address(UNIX, path=normalise_path(value.path))
        if kind in ("bind", "listen"):  # a connect's destination port names a service: kept
            return kind, Address(value.family, value.host, normalise_port(value.port, ephemeral_ports, listening))
        return item
    if kind == "exec":
        return kind, normalise_path(value)
    return item
