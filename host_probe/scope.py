"""Which processes are "the service": a pid and its descendants, a command we
launch, or a cgroup v2 directory. Scope is decided before the program loads
(cgroup id as a constant) or seeded into tracked_tgids right after it attaches."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from host_probe.loader import track


class ScopeError(ValueError):
    """Bad scope input, stated in one line (the CLI exits 2)."""


def _parent_of(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # the command name may contain spaces and parentheses: fields follow the last ")"
    return int(stat.rsplit(")", 1)[1].split()[1])


def descendants(root: int) -> set[int]:
    """root and every live process below it, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            parent = _parent_of(int(entry))
            if parent is not None:
                children.setdefault(parent, []).append(int(entry))
    found, stack = {root}, [root]
    while stack:
        for child in children.get(stack.pop(), ()):
            if child not in found:
                found.add(child)
                stack.append(child)
    return found


def _is_running(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


class PidScope:
    cgroup_id = 0

    def __init__(self, pid: int):
        if pid <= 0 or not _is_running(pid):
            raise ScopeError(f"--pid {pid}: no such running process")
        self.pid = pid
        self.description = f"pid:{pid}"

    def attach(self, bpf) -> None:
        # The program is attached first, so from here on sched_process_fork adds
        # children of tracked processes; a second walk catches children forked
        # by a process between the first walk and its own seeding.
        track(bpf, descendants(self.pid))
        track(bpf, descendants(self.pid))

    def finished(self) -> bool:
        return not _is_running(self.pid)

    def close(self) -> None:
        pass


class CgroupScope:
    def __init__(self, path: str):
        directory = Path(path)
        if not directory.is_dir():
            raise ScopeError(f"--cgroup {path}: not a directory")
        if not (directory / "cgroup.controllers").exists():
            raise ScopeError(f"--cgroup {path}: not a cgroup v2 directory (no cgroup.controllers); "
                             "use the directory under the cgroup2 mount, e.g. /sys/fs/cgroup/unified/...")
        # bpf_get_current_cgroup_id() is the cgroup v2 directory's inode number
        self.cgroup_id = os.stat(directory).st_ino
        self.description = f"cgroup:{directory}"

    def attach(self, bpf) -> None:
        pass

    def finished(self) -> bool:
        return False

    def close(self) -> None:
        pass


class CommandScope:
    """Launch CMD held before exec until the probe is attached, so its very first
    syscalls (the dynamic loader's opens) are seen."""

    cgroup_id = 0

    def __init__(self, argv: list[str]):
        if not argv:
            raise ScopeError("give a command after --, e.g. host-probe record ... -- ./server --port 8080")
        if shutil.which(argv[0]) is None:
            raise ScopeError(f"command not found: {argv[0]}")
        self.argv = argv
        self.description = "command:" + " ".join(argv)
        self.pid = 0
        self.exit_status: int | None = None
        self._release_fd = -1

    def start(self) -> int:
        hold_read, hold_write = os.pipe()
        pid = os.fork()
        if pid == 0:  # child: wait for the go, then become CMD
            try:
                os.close(hold_write)
                os.read(hold_read, 1)
                os.close(hold_read)
                os.execvp(self.argv[0], self.argv)
            except OSError as exc:
                os.write(2, f"host-probe: cannot run {self.argv[0]}: {exc.strerror}\n".encode())
            os._exit(127)
        os.close(hold_read)
        self.pid, self._release_fd = pid, hold_write
        return pid

    def attach(self, bpf) -> None:
        if not self.pid:
            self.start()
        track(bpf, [self.pid])
        os.write(self._release_fd, b"go")
        os.close(self._release_fd)
        self._release_fd = -1

    def finished(self) -> bool:
        if self.exit_status is not None:
            return True
        pid, status = os.waitpid(self.pid, os.WNOHANG)
        if pid:
            self.exit_status = os.waitstatus_to_exitcode(status)
        return self.exit_status is not None

    def close(self) -> None:
        if self._release_fd >= 0:  # never attached: let the held child go away
            os.close(self._release_fd)
            os.kill(self.pid, 9)
            os.waitpid(self.pid, 0)
            self._release_fd = -1
