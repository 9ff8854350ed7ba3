"""Hand memory the probe no longer uses back to the operating system: the heap
glibc keeps after a peak (bcc's clang compiling the program, or the first window
of a busy host, when tens of thousands of paths are new), and the pages of the
compiler's own libraries, read in for the one compile and never used again."""

from __future__ import annotations

import ctypes


def return_freed_memory() -> None:
    """malloc_trim(0): every arena's free pages go back (28 MB after a compile,
    measured on this VM). Not glibc: the memory stays reserved, nothing breaks."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


MADV_PAGEOUT = 21  # Linux 5.4
# bcc's LLVM and clang: 83 MB of their code resident after a compile, on this VM
COMPILER_LIBRARIES = ("/libLLVM", "/libclang")
# Pages are read back from the file when touched again: only from local disk file
# systems. Over 9p, virtiofs or a network the read may stall the probe (the VM
# tier's root is the host's files over 9p/virtiofs).
LOCAL_FILE_SYSTEMS = {"ext2", "ext3", "ext4", "xfs", "btrfs", "overlay", "squashfs", "erofs", "f2fs", "zfs"}


def _mounts() -> list[tuple[str, str]]:
    """(mount point, file system type), longest mount point first."""
    with open("/proc/self/mounts") as mounts:
        found = [(fields[1].replace("\\040", " "), fields[2]) for fields in map(str.split, mounts)]
    return sorted(found, key=lambda mount: len(mount[0]), reverse=True)


def _file_system_of(path: str, mounts: list[tuple[str, str]]) -> str:
    """The type of the mount that holds `path` (the longest mount point above it)."""
    for point, kind in mounts:
        if path == point or path.startswith(point.rstrip("/") + "/"):
            return kind
    return ""


def page_out_compiler() -> int:
    """Ask the kernel to reclaim the compiler libraries' pages now, instead of
    leaving them in the probe's resident set until memory runs short. A hint
    (MADV_PAGEOUT never discards data, and pages another process maps stay);
    a page touched again is read back from the file. Returns the bytes advised."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.madvise.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int)
    advised, local = 0, {}  # library path -> on a local disk file system?
    try:
        mounts = _mounts()
        with open("/proc/self/maps") as maps:
            for line in maps:
                fields = line.split()
                if len(fields) < 6 or not any(name in fields[5] for name in COMPILER_LIBRARIES):
                    continue
                if fields[5] not in local:  # a library has several mappings: one lookup each
                    local[fields[5]] = _file_system_of(fields[5], mounts) in LOCAL_FILE_SYSTEMS
                if not local[fields[5]]:
                    continue
                start, end = (int(address, 16) for address in fields[0].split("-"))
                if libc.madvise(start, end - start, MADV_PAGEOUT) == 0:
                    advised += end - start
    except OSError:
        pass
    return advised
