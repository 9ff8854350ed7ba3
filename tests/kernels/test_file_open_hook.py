"""The file-open hook the probe takes where the kernel allows fentry: an entry
trampoline on `security_file_open` that reads the opened file's path with
`bpf_d_path`. The kernel has resolved that path already, so every spelling of an
open (a symlink, a dirfd-relative name, `..`, `/proc/self/root`) comes out as the
real path, with no canonicalisation in userspace.

Runs wherever fentry and bpf_d_path load: in the VM tier (Debian's 6.1, where
`make test-kernels` requires it); on a kernel that refuses fentry it skips with
the kernel's reason, unless SYSCALL_GATE_REQUIRE names "fentry".
"""

from __future__ import annotations

import ctypes
import os
import time

import pytest

from host_probe import loader
from tests.support.requirements import unavailable

PATH_LEN = 256
# The hook as the probe would carry it. bcc 0.26 names the program
# kfunc__security_file_open and attaches it as it compiles; the verifier checks
# bpf_d_path against its allow-list of target functions (security_file_open is on it).
#
# security_file_open runs for every file the kernel opens, not only the one an
# open(2) asked for: overlayfs (a container's root, this VM's /tmp) opens the
# real file underneath with a security_file_open of its own, and a directory's
# real path there is the layer's, not the one the process named. So a file counts
# only as the first one opened during an open-family syscall of its thread: the
# raw sys_enter hook (the probe has one already) notes which syscall each thread
# is in, and the file-open hook takes the note.
FILE_OPEN_HOOK = r"""
#include <linux/fs.h>

struct open_event {
    u32 tgid;
    int path_error;
    char path[PATH_LEN];
};

BPF_RINGBUF_OUTPUT(opens, 16);
/* @brief thread id -> 1 from an open-family sys_enter to that open's first file */
BPF_HASH(open_pending, u32, u8, 10240);

RAW_TRACEPOINT_PROBE(sys_enter)
{
    u64 id = bpf_get_current_pid_tgid();
    if ((id >> 32) != TARGET_TGID)
        return 0;
    u32 tid = (u32)id;
    long nr = ctx->args[1];
    if (nr == NR_open || nr == NR_openat || nr == NR_openat2 || nr == NR_creat) {
        u8 pending = 1;
        open_pending.update(&tid, &pending);
    } else {
        open_pending.delete(&tid);  /* an open that failed before opening a file */
    }
    return 0;
}

KFUNC_PROBE(security_file_open, struct file *file)
{
    u64 id = bpf_get_current_pid_tgid();
    u32 tid = (u32)id;
    if (!open_pending.lookup(&tid))
        return 0;  /* not an open(2)'s own file: exec, or a file opened underneath it */
    open_pending.delete(&tid);
    struct open_event *event = opens.ringbuf_reserve(sizeof(struct open_event));
    if (!event)
        return 0;
    event->tgid = id >> 32;
    /* the path of the file the kernel opened: dirfd, "..", symlinks and mounts resolved */
    event->path_error = bpf_d_path(&file->f_path, event->path, sizeof(event->path));
    opens.ringbuf_submit(event, 0);
    return 0;
}
"""
OPEN_SYSCALLS = ("open", "openat", "openat2", "creat")


class OpenEvent(ctypes.Structure):
    _fields_ = [("tgid", ctypes.c_uint32), ("path_error", ctypes.c_int), ("path", ctypes.c_char * PATH_LEN)]


@pytest.fixture(scope="module")
def file_open_hook(kernel_capabilities):
    capabilities = kernel_capabilities
    if not (capabilities.fentry and capabilities.d_path):
        unavailable("fentry", f"fentry: {capabilities.reasons['fentry']}; bpf_d_path: {capabilities.reasons['d_path']}")
    BPF = loader.import_bcc()
    started = time.monotonic()
    numbers = loader.syscall_numbers()
    flags = [f"-DPATH_LEN={PATH_LEN}", f"-DTARGET_TGID={os.getpid()}",
             *(f"-DNR_{name}={numbers.get(name, -1)}" for name in OPEN_SYSCALLS)]
    bpf = BPF(text=FILE_OPEN_HOOK.encode(), cflags=flags)
    load_seconds = time.monotonic() - started
    print(f"raw sys_enter + fentry security_file_open with bpf_d_path: compiled, loaded and attached in {load_seconds:.1f} s "
          f"on {os.uname().release}")
    paths: list[str] = []

    def collect(ctx, data, size):
        event = ctypes.cast(data, ctypes.POINTER(OpenEvent)).contents
        assert event.path_error > 0, f"bpf_d_path failed: {event.path_error}"
        paths.append(event.path.decode())

    bpf[b"opens"].open_ring_buffer(collect)

    def opened_paths(open_them) -> list[str]:
        bpf.ring_buffer_consume()  # this process's opens so far (pytest's, the fixtures')
        paths.clear()
        open_them()
        bpf.ring_buffer_consume()
        return list(paths)

    yield opened_paths
    bpf.cleanup()


@pytest.fixture
def target(tmp_path):
    real = tmp_path / "real" / "secret.txt"
    real.parent.mkdir()
    real.write_text("x\n")
    return real.resolve()


def test_a_plain_open_is_its_path(file_open_hook, target):
    assert file_open_hook(lambda: open(target).close()) == [str(target)]


def test_a_symlinked_open_is_the_real_path(file_open_hook, target, tmp_path):
    link = tmp_path / "innocent-link"
    link.symlink_to(target)
    assert file_open_hook(lambda: open(link).close()) == [str(target)]


def test_a_dirfd_relative_open_is_the_real_path(file_open_hook, target):
    def open_relative():
        directory = os.open(target.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.close(os.open(target.name, os.O_RDONLY, dir_fd=directory))
        finally:
            os.close(directory)

    # the directory's own open is the first event; the file's is the second
    assert file_open_hook(open_relative) == [str(target.parent), str(target)]


def test_dot_dot_and_proc_self_root_spellings_are_the_real_path(file_open_hook, target):
    dotted = f"{target.parent}/../real/./{target.name}"
    through_root = f"/proc/self/root{target}"
    assert file_open_hook(lambda: open(dotted).close()) == [str(target)]
    assert file_open_hook(lambda: open(through_root).close()) == [str(target)]
