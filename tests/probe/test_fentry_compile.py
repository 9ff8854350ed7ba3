"""The fentry file-open variant of the probe compiles against this host's kernel
headers, in `make test`: it includes the kernel's own <linux/fs.h>, so a name of
ours that the kernel's headers also define breaks it, and this host's kernel
refuses fentry, so nothing else here would compile it (the VM tier loads it)."""

from __future__ import annotations

from host_probe.kernel import loader
from tests.probe.test_arm64_compile import _errors, compile_probe


def test_the_fentry_file_hook_compiles_against_the_kernels_own_headers(ebpf):
    result = compile_probe(loader.PROBE_SOURCE, file_hook="fentry")
    assert result.returncode == 0, _errors(result) or result.stderr[-2000:]
    assert int(result.stdout.split()[-1]) > 0  # the sys_enter program's bytecode, in bytes
