"""host_probe/keys/canonical.py on its own, in this test's own view (no kernel): the cases a
recording cannot stage cheaply. The spellings themselves are recorded for real in
test_canonical_paths.py."""

from __future__ import annotations

import os
import subprocess

from host_probe.keys.canonical import Canonical, Canonicaliser, lexical
from host_probe.kernel.contract import AT_FDCWD

SLOT = 1


def gone_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def test_lexical_collapses_without_looking():
    assert lexical("/etc//./x/../shadow") == "/etc/shadow"
    assert lexical("../../etc/./shadow") == "../../etc/shadow"
    assert lexical("/../..") == "/"


def test_a_symlink_loop_is_unresolved(tmp_path):
    (tmp_path / "a").symlink_to("b")
    (tmp_path / "b").symlink_to("a")
    found = Canonicaliser().canonical(f"{tmp_path}/a", os.getpid(), AT_FDCWD, SLOT)
    assert found == Canonical(f"{tmp_path}/a", False)


def test_a_relative_link_target_and_dot_dot_after_it_resolve_as_the_kernel_does(tmp_path):
    (tmp_path / "real" / "deep").mkdir(parents=True)
    (tmp_path / "link").symlink_to("real/deep")
    (tmp_path / "real" / "file").touch()
    found = Canonicaliser().canonical(f"{tmp_path}/link/../file", os.getpid(), AT_FDCWD, SLOT)
    assert found == Canonical(f"{tmp_path}/real/file", True)


def test_a_name_that_has_gone_is_unresolved_as_it_may_have_been_a_link(tmp_path):
    # a link to the secret, opened and removed before the drain looked
    found = Canonicaliser().canonical(f"{tmp_path}/gone/../shadow", os.getpid(), AT_FDCWD, SLOT)
    assert found == Canonical(f"{tmp_path}/shadow", False)
    found = Canonicaliser().canonical(f"{tmp_path}/nothing/here", os.getpid(), AT_FDCWD, SLOT)
    assert found == Canonical(f"{tmp_path}/nothing/here", False)


def test_a_path_relative_to_a_gone_opener_is_unresolved_with_its_lexical_form():
    found = Canonicaliser().canonical("logs/./app.log", gone_pid(), AT_FDCWD, SLOT)
    assert found == Canonical("logs/app.log", False)


def test_a_gone_openers_proc_self_file_is_still_its_own_proc_file():
    pid = gone_pid()
    canonicaliser = Canonicaliser()
    canonicaliser.watch(SLOT, {os.getpid()})
    assert canonicaliser.canonical("/proc/self/status", pid, AT_FDCWD, SLOT) == Canonical(f"/proc/{pid}/status", True)
    assert canonicaliser.canonical("/proc/self/root/etc/shadow", pid, AT_FDCWD, SLOT) \
        == Canonical(f"/proc/{pid}/root/etc/shadow", False)


def test_an_absolute_path_of_a_gone_opener_needs_its_workloads_view():
    pid, canonicaliser = gone_pid(), Canonicaliser()
    assert not canonicaliser.canonical("/etc/hostname", pid, AT_FDCWD, SLOT).resolved
    canonicaliser.watch(SLOT, {os.getpid()})
    canonicaliser.new_drain()
    assert canonicaliser.canonical("/etc//hostname", pid, AT_FDCWD, SLOT) == Canonical("/etc/hostname", True)


def test_a_proc_link_to_no_path_is_kept_as_the_link(tmp_path):
    read_end, write_end = os.pipe()
    try:
        found = Canonicaliser().canonical(f"/proc/self/fd/{read_end}", os.getpid(), AT_FDCWD, SLOT)
    finally:
        os.close(read_end)
        os.close(write_end)
    assert found == Canonical(f"/proc/{os.getpid()}/fd/{read_end}", True)


def test_a_cut_path_is_unresolved_and_marked():
    found = Canonicaliser().canonical("/var/log/" + "x" * 246, os.getpid(), AT_FDCWD, SLOT, truncated=True)
    assert found == Canonical("/var/log/" + "x" * 246 + "<truncated>", False)


def test_a_program_is_the_file_its_symlinks_lead_to_in_its_workloads_view(tmp_path):
    (tmp_path / "redis-check-rdb").write_text("#!/bin/true\n")
    os.symlink("redis-check-rdb", tmp_path / "redis-server")
    canonicaliser = Canonicaliser()
    assert canonicaliser.program(f"{tmp_path}/redis-server", SLOT) == lexical(f"{tmp_path}/redis-server")  # no view yet
    canonicaliser.watch(SLOT, [os.getpid()])
    assert canonicaliser.program(f"{tmp_path}/redis-server", SLOT) == f"{tmp_path}/redis-check-rdb"
    assert canonicaliser.program("./run.sh", SLOT) == "run.sh"  # relative: no opener to resolve it against
