"""Routes around the probe (issue 24): one program (programs/evasions.c) does, every
0.1 s, one forbidden thing per route a different way. Its benign run is the baseline,
its run with every route the canary, both recorded by the real probe, judged by the
real `gate-server check`: the canary pauses, and each route leaves the anomaly that
says what it did (a route's own secret file, address or capability), so no route
hides behind another's.

A route this host's hook (file opens at sys_enter) physically cannot key is in
OUT_OF_REACH with why (docs/probe.md, "Routes around the probe"): the test checks
that it is still missed, so it fails when it starts to be caught as much as when a
caught one slips. Two recordings of 4 s, one load of the probe each.
"""

from __future__ import annotations

import shutil
import struct
from dataclasses import dataclass
from pathlib import Path

import pytest

from gate_contract.keys import file_key
from host_probe.keys.normalise import normalise_path
from tests.probe.conftest import (WORK_DIR, build_program, free_port, gate_check, host_probe, migrated,
                                  record_args)

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
}
# route -> why the sys_enter hook cannot key it (and the feature that would)
OUT_OF_REACH: dict[str, str] = {
    "symlink": "the link is gone when the drain resolves its text: <unresolved> under its own name (fentry's "
               "bpf_d_path at security_file_open keys the secret)",
    "chdir_back": "the opener is back in its own directory when the drain reads its cwd (fentry)",
    "hardlink": "a second name of the secret's inode (fentry, keyed by device and inode)",
    "listener": "a port chosen inside ip_local_port_range is <ephemeral>, as an attached baseline's inventory "
                "cannot tell it from one the kernel chose",
}
# route -> the key it would leave if caught
MISSED_KEY = {"listener": Caught("bind", "inet:127.0.0.1:{listen_port}", "new_listener")}
# route -> the anomaly that also says what it did (besides the one in CAUGHT)
ALSO: dict[str, Caught] = {
    "handle": _risky("name_to_handle_at"),
    "clone3": Caught("exec", "/usr/bin/true", "new_exec"),
}
ROUTES = sorted(CAUGHT) + sorted(OUT_OF_REACH) + ["grandchild"]


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
            result = host_probe(*record_args(db_url, tmp_path / "spool", version, "--startup", "1s", "--",
                                             str(evasions), str(work), SECONDS, str(listen_port), routes))
            assert result.returncode == 0, result.stderr
        config = {"sufficiency": {"min_windows": 3, "min_syscalls": 100},
                  "sensitive_paths": {"paths": [f"{work}/secrets/*"]}}
        found = gate_check(db_url, tmp_path, "probe-test", config)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    found["work"], found["listen_port"] = work, listen_port
    return found


def _expected_key(caught: Caught, verdict: dict) -> str:
    if caught.kind == "file" and not caught.key.startswith("<"):
        return file_key(normalise_path(f"{verdict['work']}/secrets/{caught.key}"), "r")
    return caught.key.format(listen_port=verdict["listen_port"])


def _anomaly(verdict: dict, caught: Caught) -> dict | None:
    key = _expected_key(caught, verdict)
    found = [a for a in verdict["anomalies"] if (a["kind"], a["key"]) == (caught.kind, key)]
    return found[0] if found else None


def test_the_canary_with_every_route_pauses(verdict):
    assert verdict["verdict"] == "pause", verdict["reasons"]


@pytest.mark.parametrize("route", sorted(CAUGHT))
def test_each_route_leaves_the_anomaly_that_pauses_it(verdict, route):
    for caught in (CAUGHT[route], *([ALSO[route]] if route in ALSO else [])):
        anomaly = _anomaly(verdict, caught)
        keys = sorted((a["kind"], a["key"]) for a in verdict["anomalies"])
        assert anomaly is not None, f"{route}: no {caught.kind} {_expected_key(caught, verdict)} among {keys}"
        assert anomaly["change"] == "new" and anomaly["rule"] == caught.rule, anomaly


def test_an_open_the_probe_could_not_read_past_start_up_is_in_the_verdict_with_its_count(verdict):
    # the daemonized grandchild's path sits on a page it never touched (sys_enter cannot
    # read it): not a key, but a reason with its count, which alone would be a warn
    (reason,) = [r for r in verdict["reasons"] if "could not read (unreadable)" in r]
    assert int(reason.split()[1]) >= 10, reason


@pytest.mark.parametrize("route", sorted(OUT_OF_REACH))
def test_a_route_out_of_reach_of_sys_enter_is_still_missed(verdict, route):
    caught = _anomaly(verdict, MISSED_KEY.get(route, _secret(route)))
    assert caught is None, f"{route} is caught now: move it to CAUGHT"
