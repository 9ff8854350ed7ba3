"""Compile the probe with bcc for another architecture, without loading it.

`python -m tests.probe.cross_compile SOURCE [HEADERS] [--file-hook fentry]`, run
with bcc's ARCH set (e.g. arm64) and BCC_KERNEL_SOURCE=HEADERS, a kernel header
tree of that architecture. `--file-hook fentry` compiles the fentry file-open
programs in, which include the kernel's own <linux/fs.h>. The detail syscalls' numbers come from that tree's
<asm/unistd.h>, as the loader takes the host's from bcc's table. Prints the
numbers used and the size of the compiled sys_enter program, in bytes.
Without HEADERS it compiles for this host, as the loader does.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from host_probe.kernel import loader

SYS_ENTER = b"raw_tracepoint__sys_enter"


def syscall_numbers(headers: Path, arch: str) -> dict[str, int]:
    """The detail syscalls' numbers as that architecture's headers define them
    (-1 for one it does not have, as the loader does)."""
    lines = ["#include <asm/unistd.h>"]
    for name in loader.detail_syscalls():
        lines += [f"#ifdef __NR_{name}", f"syscall_gate_nr {name} __NR_{name}", "#endif"]
    expanded = subprocess.run(["cpp", "-P", "-nostdinc", f"-I{headers}/arch/{arch}/include/uapi",
                               f"-I{headers}/include/uapi"], input="\n".join(lines) + "\n",
                              capture_output=True, text=True, check=True).stdout
    numbers = {name: -1 for name in loader.detail_syscalls()}
    for line in expanded.splitlines():
        if line.startswith("syscall_gate_nr "):
            _, name, value = line.split(None, 2)
            numbers[name] = int(value.strip("() "))
    return numbers


def main() -> int:
    args = sys.argv[1:]
    file_hook = "sys_enter"
    if "--file-hook" in args:
        at = args.index("--file-hook")
        file_hook = args[at + 1]
        del args[at:at + 2]
    source = Path(args[0])
    headers = Path(args[1]) if len(args) > 1 else None
    BPF = loader.import_bcc()

    class CompileOnly(BPF):
        def _trace_autoload(self):  # the bytecode may be for another machine: never load or attach it
            pass

    numbers = syscall_numbers(headers, os.environ["ARCH"]) if headers else None
    if numbers:
        print(" ".join(f"{name}={number}" for name, number in numbers.items()))
    flags = loader.cflags(loader.ProbeOptions(file_hook=file_hook), numbers)
    program = CompileOnly(src_file=str(source).encode(), cflags=flags)
    print(len(program.dump_func(SYS_ENTER)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
