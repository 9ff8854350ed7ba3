"""What one running process holds, read from /proc/<pid>: fds, exe, cwd.

Paths come from readlink of /proc/<pid>/{fd/N,exe,cwd}. The kernel prints them
relative to the reader's root: for a process in its own mount namespace (a
container) that is the path as the process sees it, the same spelling its
openat() gave the probe; for a process chroot()ed inside our namespace it is
the host's path.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field

O_ACCMODE = 0o3
# As bpf/probe.bpf.c's open_mode(): access mode 3 (ioctl-only opens) reads as rw.
MODES = {os.O_RDONLY: "r", os.O_WRONLY: "w", os.O_RDWR: "rw", O_ACCMODE: "rw"}
DELETED = " (deleted)"
# fd targets that are not paths: "socket:[12]", "pipe:[34]", "anon_inode:[eventfd]",
# and memfd_create's "/memfd:name (deleted)", which looks like one but was never opened by path.
SOCKET_PREFIX = "socket:["
MEMFD_PREFIX = "/memfd:"
PATH_TYPES = (stat.S_ISREG, stat.S_ISDIR, stat.S_ISCHR, stat.S_ISBLK, stat.S_ISFIFO)


class ProcessGone(Exception):
    """The process exited (or its pid now names another process) while it was read."""


@dataclass(frozen=True)
class OpenFile:
    path: str  # without the " (deleted)" suffix
    mode: str  # r | w | rw
    deleted: bool
    fd: int = -1


@dataclass
class ProcessHoldings:
    tgid: int
    exe: str | None = None
    exe_deleted: bool = False
    cwd: str | None = None
    files: list[OpenFile] = field(default_factory=list)
    socket_inodes: set[int] = field(default_factory=set)
    net_namespace: str | None = None
    unreadable: list[str] = field(default_factory=list)  # what could not be read, for the count


def thread_group_of(pid: int) -> int:
    """The tgid a pid belongs to: a thread's files are its process's."""
    for line in _read_text(pid, "status").splitlines():
        if line.startswith("Tgid:"):
            return int(line.split()[1])
    raise ProcessGone(pid)


def start_time(pid: int) -> int:
    """Field 22 of /proc/<pid>/stat; a pid reused by another process has another.
    A zombie (exited, not yet reaped) holds nothing any more: gone."""
    text = _read_text(pid, "stat")
    after_name = text[text.rindex(")") + 2:].split()
    if after_name[0] in ("Z", "X"):
        raise ProcessGone(pid)
    return int(after_name[19])


def read_process(tgid: int) -> ProcessHoldings:
    held = ProcessHoldings(tgid)
    held.exe, held.exe_deleted = _link(tgid, "exe", held)
    held.cwd, _ = _link(tgid, "cwd", held)
    try:
        held.net_namespace = os.readlink(f"/proc/{tgid}/ns/net")
    except PermissionError:
        held.unreadable.append("ns/net")
    _read_fds(held)
    return held


def _read_fds(held: ProcessHoldings) -> None:
    fd_dir = f"/proc/{held.tgid}/fd"
    try:
        fds = os.listdir(fd_dir)
    except PermissionError:
        held.unreadable.append("fd")
        return
    for fd in fds:
        try:
            target = os.readlink(f"{fd_dir}/{fd}")
            if target.startswith(SOCKET_PREFIX):
                held.socket_inodes.add(int(target[len(SOCKET_PREFIX):-1]))
            elif target.startswith("/") and not target.startswith(MEMFD_PREFIX):
                opened = _open_file(held.tgid, fd, target)
                if opened:
                    held.files.append(opened)
        except FileNotFoundError:
            continue  # this fd was closed between listdir and readlink
        except PermissionError:
            held.unreadable.append("fd/*")  # one denied, all are (ptrace access mode)
            return


def _open_file(tgid: int, fd: str, target: str) -> OpenFile | None:
    info = os.stat(f"/proc/{tgid}/fd/{fd}")  # follows the fd itself, even to a deleted file
    if not any(is_type(info.st_mode) for is_type in PATH_TYPES):
        return None
    deleted = info.st_nlink == 0 and target.endswith(DELETED)
    path = target[:-len(DELETED)] if deleted else target
    return OpenFile(path, MODES[_fd_flags(tgid, fd) & O_ACCMODE], deleted, int(fd))


def _fd_flags(tgid: int, fd: str) -> int:
    with open(f"/proc/{tgid}/fdinfo/{fd}") as info:
        for line in info:
            if line.startswith("flags:"):
                return int(line.split()[1], 8)
    return os.O_RDONLY


def _link(tgid: int, name: str, held: ProcessHoldings) -> tuple[str | None, bool]:
    """(target without " (deleted)", deleted?) of /proc/<tgid>/<name>; None where
    there is none (a kernel thread has no exe) or it may not be read."""
    try:
        target = os.readlink(f"/proc/{tgid}/{name}")
    except PermissionError:
        held.unreadable.append(name)
        return None, False
    except FileNotFoundError:
        return None, False
    if target.endswith(DELETED):
        try:
            if os.stat(f"/proc/{tgid}/{name}").st_nlink == 0:
                return target[:-len(DELETED)], True
        except OSError:
            pass
    return target, False


def _read_text(pid: int, name: str) -> str:
    try:
        with open(f"/proc/{pid}/{name}") as proc_file:
            return proc_file.read()
    except (FileNotFoundError, ProcessLookupError) as exc:
        raise ProcessGone(pid) from exc
