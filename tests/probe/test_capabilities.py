"""`host-probe doctor` says which hooks a recording can use that the running kernel
allows, found by loading a tiny program for each: information for the loader, never
a reason to refuse recording. Runs on every kernel; what each kernel allows is checked
by tests/kernels, and listed in docs/probe.md."""

from __future__ import annotations

import sys

from host_probe.commands import doctor

from host_probe.kernel import file_hook
from host_probe.kernel.capabilities import HOOKS, Capabilities, kernel_headers
from tests.probe.conftest import host_probe


def test_doctor_reports_every_hook_and_can_record_without_any(ebpf):
    result = host_probe("doctor")
    assert result.returncode == 0, result.stdout
    lines = result.stdout.splitlines()
    for name in doctor.HOOK_NAMES.values():
        assert any(line.split()[0] in ("yes", "no") and f" {name} " in line for line in lines), (name, lines)
    assert "Traceback" not in result.stdout + result.stderr


def test_each_hook_says_what_was_found(kernel_capabilities):
    capabilities = kernel_capabilities
    for hook in HOOKS:
        assert capabilities.reasons[hook], hook
        # bcc says "Need super-user privileges" for every EPERM; as root that is the kernel refusing
        assert "super-user" not in capabilities.reasons[hook], capabilities.reasons[hook]


def test_doctor_offers_fentry_exactly_where_the_file_hook_takes_it(kernel_capabilities):
    capabilities = kernel_capabilities
    takes_fentry = file_hook.capabilities.fentry_refusal() is None
    assert takes_fentry == (capabilities.fentry and kernel_headers()[1]), capabilities.reasons
    if capabilities.fentry:
        assert capabilities.reasons["fentry"] == "loaded and attached"
        # bpf_d_path was tried, not assumed: its own answer, never the refusal of fentry's absence
        assert capabilities.reasons["d_path"] != "needs fentry"
        assert capabilities.d_path == (capabilities.reasons["d_path"] == "loaded and attached")
    else:
        assert not capabilities.d_path and capabilities.reasons["d_path"] in ("needs fentry", capabilities.reasons["fentry"])


def test_doctor_offers_only_hooks_a_recording_attaches():
    file_hooks = {hook for hooks in file_hook.FILE_HOOKS.values() for hook in hooks.values()}
    assert set(HOOKS) == set(doctor.HOOK_NAMES) == {"fentry", "d_path"}
    assert any(hook.startswith("fentry:") for hook in file_hooks)
    assert not any(hook.startswith(("kprobe", "lsm")) for hook in file_hooks)


def test_a_refused_hook_is_information_not_a_failure(capsys):
    refused = Capabilities(fentry=False, d_path=False,
                           reasons={"fentry": "the kernel refused it (EPERM, as root)", "d_path": "needs fentry"})
    assert doctor.report(doctor.check_hooks(refused), sys.stdout) == 0
    out = capsys.readouterr().out
    assert "no   fentry          the kernel refused it (EPERM, as root)" in out
    assert "FAIL" not in out and "fix:" not in out
