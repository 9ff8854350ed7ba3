"""Sockets held by running processes: listen/bind/connect/socket keys, read from
the process's own /proc/<pid>/net/* and matched to its fds."""

from __future__ import annotations

import subprocess
from pathlib import Path

from host_probe.inventory import take_inventory
from tests.inventory.conftest import ephemeral_ports, of_kinds
from tests.support.requirements import unavailable

NETWORK_KINDS = ("listen", "bind", "connect", "socket")


def network_features(*pids: int) -> set[tuple[str, str]]:
    return of_kinds(take_inventory(pids, ephemeral_ports()).features(), *NETWORK_KINDS)


def test_a_tcp_listener_is_listen_and_bind_on_its_address(hold):
    server = hold("""
        s = socket.socket(); port = bind_free(s, "127.0.0.1"); s.listen()
        ready(port=port)
    """)
    port = server.info["port"]
    assert network_features(server.pid) == {
        ("listen", f"inet:127.0.0.1:{port}"), ("bind", f"inet:127.0.0.1:{port}"), ("socket", "inet/stream")}


def test_a_tcp6_listener_on_loopback_is_inet6(hold):
    if "00000000000000000000000000000001" not in Path("/proc/net/if_inet6").read_text():
        unavailable("ipv6", "this host has no IPv6 loopback (::1 in /proc/net/if_inet6)")
    server = hold("""
        s = socket.socket(socket.AF_INET6); port = bind_free(s, "::1"); s.listen()
        ready(port=port)
    """)
    port = server.info["port"]
    assert network_features(server.pid) == {
        ("listen", f"inet6:[::1]:{port}"), ("bind", f"inet6:[::1]:{port}"), ("socket", "inet6/stream")}


def test_a_udp_socket_bound_to_a_fixed_port_is_bind(hold):
    server = hold("""
        s = socket.socket(type=socket.SOCK_DGRAM); port = bind_free(s, "127.0.0.1")
        ready(port=port)
    """)
    assert network_features(server.pid) == {("bind", f"inet:127.0.0.1:{server.info['port']}"),
                                            ("socket", "inet/dgram")}


def test_a_listeners_port_is_its_own_even_in_the_ephemeral_range(hold):
    # /proc/net/tcp cannot say who chose it; the probe keys a listener it sees start by
    # the port asked for, so an attached baseline's listener must be that port too
    server = hold("""
        s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen()
        ready(port=s.getsockname()[1])
    """)
    port = server.info["port"]
    assert network_features(server.pid) == {
        ("listen", f"inet:127.0.0.1:{port}"), ("bind", f"inet:127.0.0.1:{port}"), ("socket", "inet/stream")}


def test_a_bound_port_in_the_ephemeral_range_that_listens_nowhere_is_the_placeholder(hold):
    server = hold("""
        s = socket.socket(type=socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0))
        ready(port=s.getsockname()[1])
    """)
    assert network_features(server.pid) == {("bind", "inet:127.0.0.1:<ephemeral>"), ("socket", "inet/dgram")}


def test_a_unix_listener_is_listen_and_bind_on_its_path(hold, work_dir):
    path = work_dir / "service.sock"
    server = hold(f"""
        s = socket.socket(socket.AF_UNIX); s.bind({str(path)!r}); s.listen()
        ready()
    """)
    assert network_features(server.pid) == {
        ("listen", f"unix:{path}"), ("bind", f"unix:{path}"), ("socket", "unix/stream")}


def test_an_outbound_connection_is_connect_to_the_remote_address(hold):
    server = hold("""
        s = socket.socket(); port = bind_free(s, "127.0.0.1"); s.listen()
        ready(port=port)
        while True: s.accept()
    """)
    port = server.info["port"]
    client = hold(f"""
        c = socket.create_connection(("127.0.0.1", {port}))
        ready()
    """)
    assert network_features(client.pid) == {("connect", f"inet:127.0.0.1:{port}"), ("socket", "inet/stream")}


def test_an_accepted_connection_is_not_a_connect(hold):
    server = hold("""
        s = socket.socket(); port = bind_free(s, "127.0.0.1"); s.listen()
        c = socket.create_connection(("127.0.0.1", port)); accepted, _ = s.accept()
        ready(port=port)
    """)
    port = server.info["port"]
    # it holds both ends: its own outbound connection, and the connection it accepted
    assert network_features(server.pid) == {
        ("listen", f"inet:127.0.0.1:{port}"), ("bind", f"inet:127.0.0.1:{port}"),
        ("connect", f"inet:127.0.0.1:{port}"), ("socket", "inet/stream")}


def test_a_connected_unix_client_is_a_socket_only(hold, work_dir):
    """/proc/net/unix shows no peer path for a client: no connect key (see docs/inventory.md)."""
    path = work_dir / "peer.sock"
    server = hold(f"""
        s = socket.socket(socket.AF_UNIX); s.bind({str(path)!r}); s.listen()
        ready()
        while True: s.accept()
    """)
    client = hold(f"""
        c = socket.socket(socket.AF_UNIX); c.connect({str(path)!r})
        ready()
    """)
    assert network_features(client.pid) == {("socket", "unix/stream")}
    assert network_features(server.pid) == {("listen", f"unix:{path}"), ("bind", f"unix:{path}"),
                                            ("socket", "unix/stream")}


def test_a_listener_in_another_network_namespace_is_read_in_its_own(hold):
    """Under `unshare -n` the listener exists only in the process's own namespace:
    the host's /proc/net/tcp does not show it, /proc/<pid>/net/tcp does."""
    if subprocess.run(["unshare", "-n", "true"], capture_output=True).returncode != 0:
        unavailable("netns", "unshare -n is not permitted here")
    isolated = hold("""
        s = socket.socket(); port = bind_free(s, "0.0.0.0"); s.listen()
        ready(port=port)
    """, prefix=("unshare", "-n"))
    port = isolated.info["port"]
    host_listeners = [line.split()[1] for line in Path("/proc/net/tcp").read_text().splitlines()[1:]
                      if line.split()[3] == "0A"]
    assert f"00000000:{port:04X}" not in host_listeners
    assert network_features(isolated.pid) == {
        ("listen", f"inet:0.0.0.0:{port}"), ("bind", f"inet:0.0.0.0:{port}"), ("socket", "inet/stream")}


def test_processes_in_two_namespaces_keep_their_own_sockets(hold):
    if subprocess.run(["unshare", "-n", "true"], capture_output=True).returncode != 0:
        unavailable("netns", "unshare -n is not permitted here")
    host = hold("""
        s = socket.socket(); port = bind_free(s, "127.0.0.1"); s.listen()
        ready(port=port)
    """)
    isolated = hold("""
        s = socket.socket(type=socket.SOCK_DGRAM); port = bind_free(s, "0.0.0.0")
        ready(port=port)
    """, prefix=("unshare", "-n"))
    port, udp_port = host.info["port"], isolated.info["port"]
    assert network_features(host.pid, isolated.pid) == {
        ("listen", f"inet:127.0.0.1:{port}"), ("bind", f"inet:127.0.0.1:{port}"), ("socket", "inet/stream"),
        ("bind", f"inet:0.0.0.0:{udp_port}"), ("socket", "inet/dgram")}
