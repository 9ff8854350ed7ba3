"""Exec image ids: which program a process runs, as the kernel tags its keys.

bpf/probe.bpf.c tags every detail key, file key and syscall bit of a process with
the id of the program its last exec ran (probe.h, "Lineage"), a seeded 16-bit hash
of the exec's path. The exec key itself carries the id of the program that exec'd:
so the drain learns, from exec keys alone, which program each id is and which
program started it.
"""

from __future__ import annotations

# probe.h: IMAGE_BUCKETS, IMAGE_PATH_BYTES (tests/probe/test_kernel_contract.py keeps them equal)
IMAGE_BUCKETS = 32
IMAGE_PATH_BYTES = 256
FNV_OFFSET, FNV_PRIME = 2166136261, 16777619


def image_id(path: bytes, seed: int) -> int:
    """The kernel's exec_image_id of an exec key's path (its bytes up to the NUL)."""
    value = FNV_OFFSET ^ seed
    for byte in path[:IMAGE_PATH_BYTES]:
        if not byte:
            break
        value = ((value ^ byte) * FNV_PRIME) & 0xFFFFFFFF
    image = (value >> 16) ^ (value & 0xFFFF)
    return image or 1
