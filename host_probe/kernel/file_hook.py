"""Which hook the probe keys file opens from, chosen by what the running kernel
allows, and what each window says produced its features.

`fentry` (bpf/probe.bpf.c, FILE_HOOK_FENTRY): the path of the file the kernel
opened, from bpf_d_path at security_file_open, canonical in kernel; an open
refused before it reaches a file is keyed by its text at do_sys_openat2's exit.
`sys_enter`: the text the process passed, resolved in userspace at the drain
(host_probe/keys/canonical.py). `auto` takes fentry where the kernel allows it and
falls back to sys_enter, saying why.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Callable

from gate_contract.kinds import FEATURE_KINDS
from host_probe.kernel import capabilities, loader
from host_probe.errors import ProbeUnavailable
from host_probe.settings import FILE_HOOK_AUTO, FILE_HOOK_CHOICES, FILE_HOOK_FENTRY, FILE_HOOK_SYS_ENTER

AUTO, FENTRY, SYS_ENTER = FILE_HOOK_AUTO, FILE_HOOK_FENTRY, FILE_HOOK_SYS_ENTER
CHOICES = FILE_HOOK_CHOICES

# The hooks behind every kind of feature, whichever file hook was taken: the
# feature-kind table's (gate_contract/kinds.py; keep it in sync with bpf/probe.bpf.c).
SHARED_HOOKS = {kind.name: kind.hook for kind in FEATURE_KINDS if kind.hook}
# `file`: opens that reached a file; `file_refused`: opens refused before that
FILE_HOOKS = {
    FENTRY: {"file": "fentry:security_file_open", "file_refused": "fexit:do_sys_openat2"},
    SYS_ENTER: {"file": "sys_enter", "file_refused": "sys_enter"},
}


def window_hooks(file_hook: str) -> dict[str, str]:
    """What a window records as `hooks`: feature kind -> the hook that produced it."""
    return {**SHARED_HOOKS, **FILE_HOOKS[file_hook]}


def load(options: loader.ProbeOptions, requested: str, note: Callable[[str], None]):
    """Compile and attach the probe with the file hook `requested` (auto, fentry or
    sys_enter); returns (the loaded BPF, the file hook taken). Under auto, `note`
    hears why fentry was not taken. A forced fentry the
    kernel refuses raises ProbeUnavailable naming the reason."""
    if requested not in CHOICES:
        raise ValueError(f"file hook must be one of {', '.join(CHOICES)}, got {requested!r}")
    if requested != SYS_ENTER:
        refusal = capabilities.fentry_refusal()
        if refusal is None:
            try:
                return loader.load(replace(options, file_hook=FENTRY)), FENTRY
            except ProbeUnavailable as exc:
                refusal = str(exc)
        if requested == FENTRY:
            raise ProbeUnavailable(f"file hook fentry is not available here: {refusal}")
        note(f"no fentry: {refusal}")
    return loader.load(replace(options, file_hook=SYS_ENTER)), SYS_ENTER
