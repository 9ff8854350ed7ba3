"""Routes around the probe (issue 24): one program (programs/evasions.c) does, every
0.1 s, one forbidden thing per route a different way. Its benign run is the baseline,
its run with every route the canary, both recorded by the real probe, judged by the
real `gate-server check`: the canary pauses, and each route leaves the anomaly that
says what it did (a route's own secret file, address or capability), so no route
hides behind another's.

The file hook the probe took decides what a route must leave: under fentry (the VM
tier's stock 6.1, scripts/test-kernels.sh) every open is keyed at security_file_open
by the opened file's path, or by a configured sensitive file's path when its inode is
one of theirs, so the routes out of reach of sys_enter (this host) are caught there
too (CAUGHT_IN_KERNEL). A route a hook physically cannot key is in OUT_OF_REACH with
why (docs/probe.md, "Routes around the probe"): the test checks that it is still
missed, so it fails when it starts to be caught as much as when a caught one slips.
Two recordings of 4 s, one load of the probe each.
"""

from __future__ import annotations

import shutil
import struct
from dataclasses import dataclass
from pathlib import Path

import pytest

from gate_contract.keys import file_key
from host_probe.keys.normalise import normalise_path
from tests.support.requirements import required_parts
from tests.probe.conftest import (WORK_DIR, build_program, drops, free_port, gate_check, host_probe, migrated,
                                  read_profile, record_args, totals)

SECONDS = "4"
SECRET_ROUTES = ("uring_read", "sqpoll", "handle", "symlink", "relink", "chdir_back", "hardlink", "sendfile",
                 "proc_root", "grandchild", "clone3")


@dataclass(frozen=True)
class Caught:
    kind: str
    key: str  # a key, or a secret's name under WORKDIR/secrets (kind "file")
    rule: str


def _secret(name: str) -> Caught:
    return Caught("file", name, "sensitive_access")


def _file(path: str) -> Caught:
    return Caught("file", path, "sensitive_access")


def _risky(syscall: str) -> Caught:
    return Caught("syscall", syscall, "new_risky_capability")


def _destination(address: str) -> Caught:
    return Caught("connect", f"inet:{address}", "new_destination")


# route -> the anomaly that must say what it did (each pauses: a limit of 0 by default)
CAUGHT: dict[str, Caught] = {
    "uring_read": _risky("io_uring_setup"),
    "sqpoll": _risky("io_uring_setup"),
    "uring_connect": _destination("127.0.0.7:7006"),  # SYN_SENT, from the ring's own task
    "sendto": _destination("127.0.0.2:7001"),
    "sendmsg": _destination("127.0.0.3:7002"),
    "sendmmsg": _destination("127.0.0.4:7003"),
    "sendto_kept_socket": _destination("127.0.0.5:7004"),
    "fastopen": _destination("127.0.0.6:7005"),
    "handle": _risky("open_by_handle_at"),
    "relink": _secret("relink"),
    "chdir": Caught("file", "<unresolved>shadow:r", "sensitive_access"),
    "sendfile": _secret("sendfile"),
    "proc_root": _secret("proc_root"),
    "clone3": _secret("clone3"),
    "process_vm_readv": _risky("process_vm_readv"),
    "packet": Caught("socket", "packet/raw", "new_risky_capability"),
    "memfd": _risky("memfd_create"),
    # a port asked for inside ip_local_port_range is the workload's own: only a requested 0 is <ephemeral>
    "listener": Caught("bind", "inet:127.0.0.1:{listen_port}", "new_listener"),
}
# route -> why the sys_enter hook cannot key it (and the feature that would)
OUT_OF_REACH: dict[str, str] = {
    "symlink": "the link is gone when the drain resolves its text: <unresolved> under its own name (fentry's "
               "bpf_d_path at security_file_open keys the secret)",
    "chdir_back": "the opener is back in its own directory when the drain reads its cwd (fentry)",
    "hardlink": "a second name of the secret's inode (fentry, keyed by device and inode)",
}
# route -> the anomaly that also says what it did (besides the one in CAUGHT)
ALSO: dict[str, Caught] = {
    "handle": _risky("name_to_handle_at"),
    "clone3": Caught("exec", "/usr/bin/true", "new_exec"),
    "listener": Caught("listen", "inet:127.0.0.1:{listen_port}", "new_listener"),
}
IN_KERNEL = "fentry:security_file_open"
# Under fentry: the secret itself, by the path of the file opened, however it was named
# (a vanished link, a directory left, a hard link by its inode, a path on an untouched page)
CAUGHT_IN_KERNEL: dict[str, Caught] = {
    "symlink": _secret("symlink"),
    "chdir": _file("/etc/shadow"),
    "chdir_back": _secret("chdir_back"),
    "hardlink": _secret("hardlink"),
    "grandchild": _secret("grandchild"),
    # the VM tier's /tmp is overlayfs without nfs_export: name_to_handle_at fails there, so
    # open_by_handle_at is never reached (seen in its run); the attempt alone pauses
    "handle": _risky("name_to_handle_at"),
}
# Under fentry, also the secret an open outside open(2) read (io_uring, a handle)
ALSO_IN_KERNEL: dict[str, Caught] = {
    "uring_read": _secret("uring_read"),
    "sqpoll": _secret("sqpoll"),
}
ROUTES = sorted(CAUGHT) + sorted(OUT_OF_REACH) + ["grandchild"]


def caught_under(hook: str) -> dict[str, tuple[Caught, ...]]:
    """route -> every anomaly it must leave under the file hook `hook`."""
    caught = {route: (found, *([ALSO[route]] if route in ALSO else [])) for route, found in CAUGHT.items()}
    if hook == IN_KERNEL:
        for route, found in CAUGHT_IN_KERNEL.items():
            caught[route] = (found,)
        for route, found in ALSO_IN_KERNEL.items():
            caught[route] += (found,)
    return caught


def _free_port_in_ephemeral_range() -> int:
    low, high = (int(n) for n in Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    return free_port(low + 7000, high)


@pytest.fixture(scope="module")
def evasions(tmp_path_factory) -> Path:
    return build_program("evasions", tmp_path_factory)


def _prepare(work: Path) -> None:
    """A fresh WORKDIR for one run: the secrets, the config and its link, the pages."""
    shutil.rmtree(work, ignore_errors=True)
    for sub in ("secrets", "pages", "tmp"):
        (work / sub).mkdir(parents=True)
    (work / "app.conf").write_text("setting = 1\n")
    (work / "app.link").symlink_to(work / "app.conf")
    for name in SECRET_ROUTES:
        (work / "secrets" / name).write_text("secret\n")
    (work / "pages" / "grandchild_path").write_bytes(f"{work}/secrets/grandchild\0".encode())
    # struct clone_args (v2, 88 bytes): a fork that signals SIGCHLD (17) at its exit
    (work / "pages" / "clone3_args").write_bytes(struct.pack("<11Q", 0, 0, 0, 0, 17, 0, 0, 0, 0, 0, 0))


@pytest.fixture(scope="module")
def verdict(ebpf, evasions, tmp_path_factory) -> dict:
    tmp_path = tmp_path_factory.mktemp("evasions")
    work = WORK_DIR.parent / f"{WORK_DIR.name}-evasions"
    db_url = migrated(f"sqlite:///{tmp_path / 'gate.db'}")
    listen_port = _free_port_in_ephemeral_range()
    try:
        for version, routes in (("v1", "benign"), ("v2", ",".join(ROUTES))):
            _prepare(work)
            result = host_probe(*record_args(db_url, tmp_path / "spool", version, "--startup", "1s",
                                             "--sensitive-path", f"{work}/secrets/*", "--",
                                             str(evasions), str(work), SECONDS, str(listen_port), routes))
            assert result.returncode == 0, result.stderr
        config = {"sufficiency": {"min_windows": 3, "min_syscalls": 100},
                  "sensitive_paths": {"paths": [f"{work}/secrets/*"]}}
        found = gate_check(db_url, tmp_path, "probe-test", config, timeout=600)  # 120 s was too short in the VM tier
    finally:
        shutil.rmtree(work, ignore_errors=True)
    found["work"], found["listen_port"] = work, listen_port
    found["hook"] = IN_KERNEL if f"file opens from {IN_KERNEL}" in result.stderr else "sys_enter"
    return found


def _expected_key(caught: Caught, verdict: dict) -> str:
    if caught.kind == "file" and caught.key.startswith("/"):
        return file_key(normalise_path(caught.key), "r")
    if caught.kind == "file" and not caught.key.startswith("<"):
        return file_key(normalise_path(f"{verdict['work']}/secrets/{caught.key}"), "r")
    return caught.key.format(listen_port=verdict["listen_port"])


def _anomaly(verdict: dict, caught: Caught) -> dict | None:
    key = _expected_key(caught, verdict)
    found = [a for a in verdict["anomalies"] if (a["kind"], a["key"]) == (caught.kind, key)]
    return found[0] if found else None


def test_the_canary_with_every_route_pauses(verdict):
    assert verdict["verdict"] == "pause", verdict["reasons"]


def test_the_file_hook_is_the_one_the_tier_requires(verdict):
    # the VM tier requires fentry (SYSCALL_GATE_REQUIRE): its expectations must not be this host's
    assert verdict["hook"] == (IN_KERNEL if "fentry" in required_parts() else verdict["hook"])


@pytest.mark.parametrize("route", ROUTES)
def test_each_route_leaves_the_anomaly_that_pauses_it_or_is_a_documented_miss(verdict, route):
    caught = caught_under(verdict["hook"])
    if route not in caught:
        assert route in OUT_OF_REACH or route == "grandchild", route
        if route in OUT_OF_REACH:
            assert _anomaly(verdict, _secret(route)) is None, \
                f"{route} is caught now under {verdict['hook']}: move it to the caught routes"
        return
    keys = sorted((a["kind"], a["key"]) for a in verdict["anomalies"])
    for expected in caught[route]:
        anomaly = _anomaly(verdict, expected)
        assert anomaly is not None, f"{route}: no {expected.kind} {_expected_key(expected, verdict)} among {keys}"
        assert anomaly["change"] == "new" and anomaly["rule"] == expected.rule, anomaly


def test_an_open_the_probe_could_not_read_past_start_up_is_in_the_verdict_with_its_count(verdict):
    unreadable = [r for r in verdict["reasons"] if "could not read (unreadable)" in r]
    if verdict["hook"] == IN_KERNEL:
        # the kernel's own path of the opened file: no open's text is read from the process
        assert unreadable == [], unreadable
        return
    # the daemonized grandchild's path sits on a page it never touched (sys_enter cannot
    # read it): not a key, but a reason with its count, which alone would be a warn
    (reason,) = unreadable
    assert int(reason.split()[1]) >= 10, reason


def test_the_exit_time_retry_keys_an_open_whose_path_was_not_yet_paged_in(ebpf, evasions, tmp_path):
    # sys_enter's own remedy for the grandchild's route, off by default (a second hook on
    # every syscall of the host: docs/benchmarks.md): the kernel's copy of the path faults
    # its page in, so at the syscall's exit the probe reads it
    work = WORK_DIR.parent / f"{WORK_DIR.name}-evasions-retry"
    db_url = migrated(f"sqlite:///{tmp_path / 'gate.db'}")
    try:
        _prepare(work)
        result = host_probe(*record_args(db_url, tmp_path / "spool", "v1", "--file-hook", "sys_enter",
                                         "--retry-unreadable", "--", str(evasions), str(work), "2", "0", "grandchild"))
        assert result.returncode == 0, result.stderr
        profile = read_profile(db_url, "v1")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    secret = file_key(normalise_path(f"{work}/secrets/grandchild"), "r")
    # every round opens it; under emulation (the VM tier) 2 s held 9 rounds
    assert totals(profile)[("file", secret)] >= 5, totals(profile)
    assert drops(profile)["unreadable"] == 0, drops(profile)
