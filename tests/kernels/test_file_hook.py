"""The probe keys file opens from the hook the kernel allows, and every window says
which: where fentry and bpf_d_path load on the kernel's own headers (Debian's 6.1
in the VM tier), from security_file_open, resolved in kernel; elsewhere (this
host's 6.18) from sys_enter, resolved by the probe. Either way a canary that reads
/etc/shadow through a symlink, through a directory fd, through `..` and through
/proc/self/root, and (a process that is not root) tries and is refused, is judged
`sensitive /etc/shadow` and pauses. (On overlayfs, the guest's /tmp, the hook keys
the overlay's file, not the layer's underneath: tests/probe/test_record.py's keys
under /tmp, in the same tier.)

Through the real `host-probe record` (auto) and the real `gate-server check`."""

from __future__ import annotations

import pytest

from host_probe.kernel.capabilities import kernel_headers
from tests.probe.conftest import gate_check, host_probe, migrated, read_profile, record_args, totals
from tests.probe.test_canonical_paths import JUDGE_CONFIG, PYTHON, SPELLINGS, shadow_keys, work  # noqa: F401 (a fixture)
from tests.support.requirements import required_parts, unavailable

IN_KERNEL = "fentry:security_file_open"
# tests/probe/spellings.py's ways to /etc/shadow; "refused": a child that is not root tries
SPELLED_READS = ("symlink", "dirfd", "dot-dot", "proc-self-root", "refused")


def fentry_expected(capabilities) -> bool:
    return capabilities.fentry and capabilities.d_path and kernel_headers()[1]


def record(db_url, tmp_path, version, role, *spellings_args, file_hook="auto"):
    result = host_probe(*record_args(db_url, tmp_path / "spool", version, "--role", role, "--file-hook", file_hook,
                                     "--", PYTHON, str(SPELLINGS), *spellings_args))
    assert result.returncode == 0, result.stderr
    return result, read_profile(db_url, version)


def test_a_secret_read_however_reached_pauses_and_each_window_names_its_file_hook(kernel_capabilities, tmp_path,
                                                                                    work):
    in_kernel = fentry_expected(kernel_capabilities)
    if not in_kernel and "fentry" in required_parts():  # the VM tier: fail rather than test the fallback
        unavailable("fentry", f"fentry: {kernel_capabilities.reasons['fentry']}; bpf_d_path: "
                              f"{kernel_capabilities.reasons['d_path']}; headers: {kernel_headers()}")
    # In kernel the key is the opened file's own path, whatever is left at the drain: the
    # link removed and the directory fd closed before it. The probe's own resolution
    # needs them still there (tests/probe/test_canonical_paths.py), so there they stay.
    let_go = ("--let-go",) if in_kernel else ()
    db_url = migrated(f"sqlite:///{tmp_path / 'gate.db'}")
    record(db_url, tmp_path, "v1", "baseline", "none", "--dir", str(work), "--hold", "3.5")
    result, canary = record(db_url, tmp_path, "v2", "canary", *SPELLED_READS, "--dir", str(work), "--hold", "3.5",
                            *let_go)

    expected = IN_KERNEL if in_kernel else "sys_enter"
    assert {w.hooks.get("file") for w in canary.windows} == {expected}, result.stderr
    assert {w.hooks.get("file_refused") for w in canary.windows} == {
        "fexit:do_sys_openat2" if in_kernel else "sys_enter"}
    # every spelling, and the refused attempt: one key
    assert shadow_keys(canary) == {"/etc/shadow:r": len(SPELLED_READS)}, totals(canary)
    verdict = gate_check(db_url, tmp_path, "probe-test", JUDGE_CONFIG, timeout=600)
    assert verdict["verdict"] == "pause", verdict
    sensitive = [a for a in verdict["anomalies"] if a["group"] == "sensitive" and a["change"] == "new"]
    assert [a["key"] for a in sensitive] == ["/etc/shadow:r"], verdict["anomalies"]
    assert verdict["observation"]["canary"]["hooks"]["file"] == [expected]


def test_a_file_hook_the_kernel_refuses_is_one_line_and_exit_2(kernel_capabilities, tmp_path):
    if fentry_expected(kernel_capabilities):
        pytest.skip("this kernel allows the fentry file hook")
    db_url = migrated(f"sqlite:///{tmp_path / 'gate.db'}")
    result = host_probe(*record_args(db_url, tmp_path / "spool", "v1", "--file-hook", "fentry", "--", "true"))
    assert result.returncode == 2
    assert result.stderr.startswith("host-probe: error: file hook fentry is not available here: "), result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr

