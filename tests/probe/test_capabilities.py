"""`host-probe doctor` says which hooks the running kernel allows, found by
loading a tiny program for each: information for the loader, never a reason
to refuse recording. Runs on every kernel; what each kernel allows is checked
by tests/kernels, and listed in docs/probe.md."""

from __future__ import annotations

import sys

import pytest

from host_probe import doctor
from host_probe.capabilities import HOOKS, Capabilities
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


def test_bpf_d_path_is_offered_only_with_fentry(kernel_capabilities):
    capabilities = kernel_capabilities
    if not capabilities.fentry:
        assert not capabilities.d_path and capabilities.reasons["d_path"] == "needs fentry"


def test_a_refused_hook_is_information_not_a_failure(capsys):
    refused = Capabilities(fentry=False, kprobes=False, lsm=False, d_path=False,
                           reasons={"fentry": "the kernel refused it (EPERM, as root)", "kprobes": "none",
                                    "lsm": "none", "d_path": "needs fentry"})
    assert doctor.report(doctor.check_hooks(refused), sys.stdout) == 0
    out = capsys.readouterr().out
    assert "no   fentry          the kernel refused it (EPERM, as root)" in out
    assert "FAIL" not in out and "fix:" not in out


class EveryHookAttaches:
    """Stands in for the compiled test programs: every attach succeeds."""

    def __getattr__(self, name):
        return lambda **kwargs: self


def test_an_attached_lsm_program_that_would_never_run_is_not_offered(tmp_path, monkeypatch):
    from host_probe import capabilities as module

    if not module.BTF.exists():
        pytest.skip("LSM programs are not tried without BTF")
    lsm_list = tmp_path / "lsm"
    lsm_list.write_text("lockdown,capability,yama,apparmor\n")
    monkeypatch.setattr(module, "ACTIVE_LSMS", lsm_list)
    reasons: dict[str, str] = {}
    found = module._attach_each(EveryHookAttaches(), reasons)
    assert found["fentry"] and found["d_path"] and not found["lsm"]
    assert "`bpf` is not an active LSM (lockdown,capability,yama,apparmor)" in reasons["lsm"]

    lsm_list.write_text("lockdown,capability,bpf\n")
    assert module._attach_each(EveryHookAttaches(), {})["lsm"]
