"""A hook `host-probe doctor` offers really runs: a kprobe and a BPF LSM program
on the file-open path each count this process's opens. (A BPF LSM program
attaches even where `bpf` is not an active LSM, and then never runs.)

Skips with the kernel's reason where doctor offers neither hook; a hook it does
not offer is named unavailable once the offered ones are checked, and fails
instead where SYSCALL_GATE_REQUIRE names it (`make test-kernels` does, in the VM)."""

from __future__ import annotations

import os

from host_probe import loader
from tests.support.requirements import unavailable

# One program for both hooks (one compile: the VM tier compiles under emulation).
COUNTERS = r"""
#include <linux/fs.h>

/* @brief [0]: opens the kprobe saw, [1]: opens the LSM program saw */
BPF_ARRAY(opens_seen, u64, 2);

static __always_inline int count_open(u32 hook)
{
    if ((bpf_get_current_pid_tgid() >> 32) != TARGET_TGID)
        return 0;
    u64 *count = opens_seen.lookup(&hook);
    if (count)
        __sync_fetch_and_add(count, 1);
    return 0;
}

#ifdef WITH_KPROBES
int kprobe__security_file_open(struct pt_regs *ctx)
{
    return count_open(0);
}
#endif

#ifdef WITH_LSM
LSM_PROBE(file_open, struct file *file)
{
    return count_open(1);
}
#endif
"""
COUNTER_OF = {"kprobes": 0, "lsm": 1}
OPENS = 5


def test_each_offered_hook_sees_every_open(kernel_capabilities, tmp_path):
    offered = [hook for hook in COUNTER_OF if kernel_capabilities.available(hook)]
    refused = {hook: kernel_capabilities.reasons[hook] for hook in COUNTER_OF if hook not in offered}
    if offered:
        target = tmp_path / "opened.txt"
        target.write_text("x\n")
        flags = [f"-DWITH_{hook.upper()}" for hook in offered] + [f"-DTARGET_TGID={os.getpid()}"]
        bpf = loader.import_bcc()(text=COUNTERS.encode(), cflags=flags)
        try:
            for _ in range(OPENS):
                open(target).close()
            for hook in offered:
                assert bpf[b"opens_seen"][COUNTER_OF[hook]].value >= OPENS, hook
        finally:
            bpf.cleanup()
    for hook, reason in refused.items():
        unavailable(hook, reason)
