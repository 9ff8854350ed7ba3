"""The normalisation rules: per-run noise goes, real differences stay."""

from __future__ import annotations

import pytest

from gate_contract.keys import parse_address
from host_probe.keys.kernel_keys import file_feature
from host_probe.keys.normalise import RULES, normalise_address, normalise_path


@pytest.mark.parametrize("raw, normalised", [
    ("/proc/4242/status", "/proc/<pid>/status"),
    ("/proc/4242", "/proc/<pid>"),
    ("/tmp/tmpa8f3k2_q", "/tmp/<tmp>"),
    ("/tmp/tmp.Xa81kQz0pL", "/tmp/<tmp>"),
    ("/tmp/req-x91k2.tmp", "/tmp/req-<tmp>.tmp"),
    ("/tmp/req-1rotthsg.tmp", "/tmp/req-<tmp>.tmp"),
    ("/tmp/req-6_ab_cde.tmp", "/tmp/req-<tmp>.tmp"),
    ("/srv/app/tmp/cache-x1y2z3w4.json", "/srv/app/tmp/cache-<tmp>.json"),
    ("/var/log/app/1234.log", "/var/log/app/<n>.log"),
    ("/dev/pts/3", "/dev/pts/<n>"),
    ("/proc/self/fd/7", "/proc/self/fd/<n>"),
    ("/home/u/report-20240101.csv", "/home/u/report-<n>.csv"),
    ("/cache/9f86d081884c7d65.bin", "/cache/<hex>.bin"),
    ("/run/app/3f2b8c1e-9d4a-4e2b-8f6a-0c1d2e3f4a5b.lock", "/run/app/<hex>.lock"),
])
def test_per_run_names_are_normalised(raw, normalised):
    assert normalise_path(raw) == normalised


@pytest.mark.parametrize("path", [
    "/etc/shadow",
    "/usr/lib/python3.11/os.py",
    "/lib/x86_64-linux-gnu/libc.so.6",
    "/usr/bin/sha256sum",
    "/sys/devices/system/cpu/cpu0/online",
    "/etc/ld.so.cache",
    "/usr/lib/x86_64-linux-gnu/libpcre2-8.so.0",
    "/opt/ubuntu2204/config",
    "/var/log/app-requests.log",
    "/srv/spool/job-requests.tmp",
])
def test_stable_names_are_kept(path):
    assert normalise_path(path) == path


def test_two_runs_of_the_same_temp_file_pattern_share_a_key():
    assert normalise_path("/tmp/tmpq0w9e8r7") == normalise_path("/tmp/tmpz1x2c3v4")


def test_python_tempfile_names_with_a_prefix_share_a_key():
    import tempfile

    names = set()
    for _ in range(20):
        with tempfile.NamedTemporaryFile(prefix="req-", suffix=".tmp", dir="/tmp") as handle:
            names.add(normalise_path(handle.name))
    assert names == {"/tmp/req-<tmp>.tmp"}


def _address(kind: str, key: str, ephemeral=(32768, 60999)) -> str:
    return str(normalise_address(kind, parse_address(key), ephemeral))


def test_file_keys_keep_their_mode():
    assert file_feature(b"/var/log/app/77.log\0", 2) == ("file", "/var/log/app/<n>.log:w")
    assert file_feature(b"/proc/9/status\0junk", 1) == ("file", "/proc/<pid>/status:r")


def test_connect_keeps_the_destination_port():
    assert _address("connect", "inet:10.0.0.5:5432") == "inet:10.0.0.5:5432"
    assert _address("connect", "inet:127.0.0.1:45000") == "inet:127.0.0.1:45000"
    assert _address("connect", "inet6:[::1]:443") == "inet6:[::1]:443"


def test_bind_to_a_kernel_chosen_port_is_ephemeral():
    assert _address("bind", "inet:0.0.0.0:0") == "inet:0.0.0.0:<ephemeral>"
    assert _address("bind", "inet:0.0.0.0:45000") == "inet:0.0.0.0:<ephemeral>"
    assert _address("bind", "inet:0.0.0.0:45000", (50000, 60000)) == "inet:0.0.0.0:45000"
    assert _address("listen", "inet6:[::]:8080") == "inet6:[::]:8080"


def test_a_port_the_workload_asked_for_is_its_own_even_in_the_ephemeral_range():
    asked = lambda kind, key: str(normalise_address(kind, parse_address(key), (32768, 60999), port_asked=True))
    assert asked("bind", "inet:0.0.0.0:45000") == "inet:0.0.0.0:45000"
    assert asked("listen", "inet6:[::]:45000") == "inet6:[::]:45000"
    assert asked("bind", "inet:0.0.0.0:0") == "inet:0.0.0.0:<ephemeral>"


def test_per_run_socket_names_are_normalised():
    assert _address("connect", "unix:/run/user/1000/bus") == "unix:/run/user/<n>/bus"
    assert _address("bind", "unix:/tmp/app-x8k2m9q.sock") == "unix:/tmp/app-<tmp>.sock"
    assert _address("listen", "unix:/run/app.sock") == "unix:/run/app.sock"
    assert _address("connect", "unix:<unnamed>") == "unix:<unnamed>"


def test_every_rule_documents_an_example_it_satisfies():
    for rule in RULES:
        raw, _, expected = rule.example.partition(" -> ")
        assert normalise_path(raw) == expected.split(";")[0].strip(), rule.name
