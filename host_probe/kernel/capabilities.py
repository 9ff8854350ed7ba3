"""Which hooks a recording can use on the running kernel, found by trying them.

A recording takes its file opens from fentry on `security_file_open` with
bpf_d_path where the kernel allows it (host_probe/kernel/file_hook.py), else from
sys_enter, which every supported kernel has. A kernel's version and config do not
say whether fentry loads: lockdown, a distribution's patches or a sysctl can refuse
it on a kernel that has it (this machine's 6.18 answers EPERM). So each hook is a
tiny program on the probe's own target, `security_file_open`, compiled once with
bcc and loaded and attached one by one. Only hooks a recording attaches are tried:
kprobes and BPF LSM programs are not among them, so doctor does not offer them.
"""

from __future__ import annotations

import errno
import os
import sys
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from host_probe.kernel import loader, tracefs
from host_probe.errors import ProbeUnavailable

BTF = Path("/sys/kernel/btf/vmlinux")
HOOKS = ("fentry", "d_path")

# One program per hook; neither changes anything (each returns 0). The d_path
# program is the exit of the same function so that both trampolines can be
# attached at once: the verifier's bpf_d_path allow-list is per target function,
# the same for entry and exit.
PROGRAMS = r"""
#include <linux/fs.h>

KFUNC_PROBE(security_file_open, struct file *file)
{
    return 0;
}

KRETFUNC_PROBE(security_file_open, struct file *file, int ret)
{
    char path[64];
    bpf_d_path(&file->f_path, path, sizeof(path));
    return 0;
}
"""


# The loader's quick question before it compiles the probe with its fentry file
# hook: no include, so bcc compiles it in a fraction of the probe's time.
FENTRY_PREFLIGHT = r"""
KFUNC_PROBE(security_file_open)
{
    return 0;
}
"""


@dataclass(frozen=True)
class Capabilities:
    fentry: bool
    d_path: bool
    # hook -> what was found: why it is refused, or how it loaded
    reasons: dict[str, str] = field(default_factory=dict)

    def available(self, hook: str) -> bool:
        return getattr(self, hook)


def _why(exc: Exception) -> str:
    """bcc's exception text, made true for root: it says "Need super-user
    privileges" for every EPERM, which is the kernel refusing when we are root."""
    text = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
    if "super-user" in text and os.geteuid() == 0:
        return f"the kernel refused it ({errno.errorcode[errno.EPERM]}, as root)"
    return text


@contextmanager
def _quiet_stderr():
    """libbcc prints each refusal to fd 2 ("bpf: Failed to load program"); the
    reasons already say it, once, in the doctor's own lines."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _compile():
    BPF = loader.import_bcc()

    class Unattached(BPF):
        """bcc attaches kfunc__ functions as it compiles, the first failure
        failing them all; here each is attached on its own."""

        def _trace_autoload(self):
            pass

    return Unattached(text=PROGRAMS.encode())


def _attempt(attach) -> tuple[bool, str]:
    try:
        attach()
    except Exception as exc:  # bcc raises bare Exception for load and attach errors
        return False, _why(exc)
    return True, "loaded and attached"


def _attach_each(bpf, reasons: dict[str, str]) -> dict[str, bool]:
    found: dict[str, bool] = {}
    if BTF.exists():
        found["fentry"], reasons["fentry"] = _attempt(lambda: bpf.attach_kfunc(fn_name=b"security_file_open"))
        if found["fentry"]:
            found["d_path"], reasons["d_path"] = _attempt(lambda: bpf.attach_kretfunc(fn_name=b"security_file_open"))
        else:
            found["d_path"], reasons["d_path"] = False, "needs fentry"
    return found


def probe_capabilities() -> Capabilities:
    """Try each hook on the running kernel (root, or CAP_BPF + CAP_PERFMON)."""
    reasons: dict[str, str] = {}
    if not BTF.exists():
        for hook in HOOKS:
            reasons[hook] = f"no BTF ({BTF} missing): fentry programs need it"
        return Capabilities(False, False, reasons)
    try:
        tracefs.ensure_mounted()
        with _quiet_stderr():
            bpf = _compile()
    except ProbeUnavailable as exc:
        return Capabilities(False, False, {hook: str(exc) for hook in HOOKS})
    except Exception as exc:  # noqa: BLE001 -- a compile error is the answer for every hook
        reason = f"the test programs did not compile: {_why(exc)}"
        return Capabilities(False, False, {hook: reason for hook in HOOKS})
    try:
        with _quiet_stderr():
            found = _attach_each(bpf, reasons)
    finally:
        bpf.cleanup()
    return Capabilities(fentry=found["fentry"], d_path=found["d_path"], reasons=reasons)


def kernel_headers(release: str | None = None) -> tuple[Path, bool]:
    """Where bcc finds kernel headers for `release`, and whether they are that
    kernel's own (not the generic ones scripts/setup.sh links for a kernel without a
    package): a program that reads kernel structs (struct file) needs its own."""
    release = release or os.uname().release
    build = Path(f"/lib/modules/{release}/build")
    return build, build.exists() and release in build.resolve().name


def fentry_refusal() -> str | None:
    """Why the probe cannot take file opens from fentry here, or None when it can
    try: BTF, the running kernel's own headers and a trampoline on
    security_file_open that loads (bpf_d_path is then tried by the probe's own load)."""
    if not BTF.exists():
        return f"no BTF ({BTF} missing)"
    build, own = kernel_headers()
    if not own:
        return (f"the kernel headers at {build} are not this kernel's own, and the fentry hook reads "
                "struct file as they lay it out")
    try:
        tracefs.ensure_mounted()
        BPF = loader.import_bcc()
        with _quiet_stderr():
            BPF(text=FENTRY_PREFLIGHT.encode()).cleanup()
    except ProbeUnavailable as exc:
        return str(exc)
    except Exception as exc:  # noqa: BLE001 -- bcc raises bare Exception for load and attach errors
        return f"fentry on security_file_open: {_why(exc)}"
    return None
