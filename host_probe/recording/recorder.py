"""`host-probe record`: the engine with one workload, named on the command line
(a pid and its descendants, a cgroup v2 directory, or a command we launch),
for a fixed time or until the workload ends."""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import sys
import time
from dataclasses import dataclass

from host_probe.discovery import Identity, Workload
from host_probe.recording.engine import Engine, EngineConfig
from host_probe.errors import ScopeError
from host_probe.recording.workloads import check_cgroup, is_running

SOURCE = "record"


class PidScope:
    attached = True  # what its processes already hold is read from /proc

    def __init__(self, pid: int):
        if pid <= 0 or not is_running(pid):
            raise ScopeError(f"--pid {pid}: no such running process")
        self.pid = pid

    def workload(self, identity: Identity) -> Workload:
        return Workload(SOURCE, f"pid:{self.pid}", identity, pids=frozenset({self.pid}))

    def started(self) -> None:
        pass

    def finished(self) -> bool:
        return not is_running(self.pid)

    def close(self) -> None:
        pass


class CgroupScope:
    attached = True

    def __init__(self, path: str):
        check_cgroup(path)
        self.path = os.path.abspath(path)

    def workload(self, identity: Identity) -> Workload:
        return Workload(SOURCE, f"cgroup:{self.path}", identity, cgroup=self.path)

    def started(self) -> None:
        pass

    def finished(self) -> bool:
        return False

    def close(self) -> None:
        pass


@dataclass(frozen=True)
class RunAs:
    """The user a launched command runs as (the probe itself stays root)."""

    name: str
    uid: int
    gid: int
    home: str
    shell: str

    @classmethod
    def named(cls, name: str) -> "RunAs":
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            raise ScopeError(f"--user {name}: no such user on this host") from None
        return cls(name, entry.pw_uid, entry.pw_gid, entry.pw_dir, entry.pw_shell or "/bin/sh")

    def environment(self, base: dict[str, str]) -> dict[str, str]:
        return {**base, "HOME": self.home, "USER": self.name, "LOGNAME": self.name, "SHELL": self.shell}

    def become(self) -> None:
        """In the child, before exec: drop root for good (groups first, then gid, then uid)."""
        os.initgroups(self.name, self.gid)
        os.setgid(self.gid)
        os.setuid(self.uid)


class CommandScope:
    """Launch CMD held before exec until its slot is written, so its very first
    syscalls (the dynamic loader's opens) are seen. CMD gets `env` (the probe's
    environment without the gate's credentials) and runs as `run_as` when given."""

    attached = False  # it holds nothing of its own yet: no inventory

    def __init__(self, argv: list[str], env: dict[str, str] | None = None, run_as: RunAs | None = None):
        if not argv:
            raise ScopeError("give a command after --, e.g. host-probe record ... -- ./server --port 8080")
        if shutil.which(argv[0], path=(env or os.environ).get("PATH")) is None:
            raise ScopeError(f"command not found: {argv[0]}")
        self.argv = argv
        self.run_as = run_as
        base = dict(os.environ if env is None else env)
        self.env = run_as.environment(base) if run_as else base
        self.pid = 0
        self.exit_status: int | None = None
        self._release_fd = -1

    def workload(self, identity: Identity) -> Workload:
        if not self.pid:
            self._start()
        return Workload(SOURCE, "command:" + " ".join(self.argv), identity, pids=frozenset({self.pid}))

    def _start(self) -> None:
        hold_read, hold_write = os.pipe()
        pid = os.fork()
        if pid == 0:  # child: wait for the go, then become CMD
            try:
                os.close(hold_write)
                os.read(hold_read, 1)
                os.close(hold_read)
                if self.run_as:
                    self.run_as.become()
                os.execvpe(self.argv[0], self.argv, self.env)
            except OSError as exc:
                who = f" as {self.run_as.name}" if self.run_as else ""
                os.write(2, f"host-probe: cannot run {self.argv[0]}{who}: {exc.strerror}\n".encode())
            os._exit(127)
        os.close(hold_read)
        self.pid, self._release_fd = pid, hold_write

    def started(self) -> None:
        """The slot is written: let CMD go."""
        if self.run_as is None and os.geteuid() == 0:
            print(f"host-probe: {self.argv[0]} runs as root, like the probe (no --user, and no SUDO_USER): "
                  "give --user to run it as its own user", file=sys.stderr, flush=True)
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
        if self._release_fd >= 0:  # never started: let the held child go away
            os.close(self._release_fd)
            os.kill(self.pid, 9)
            os.waitpid(self.pid, 0)
            self._release_fd = -1


@dataclass
class RecordRequest:
    identity: Identity
    engine: EngineConfig
    duration_s: float | None = None


class Recorder:
    def __init__(self, request: RecordRequest, scope, log=None):
        self.request = request
        self.scope = scope
        self.engine = Engine(request.engine, log)
        self.stop_requested = False

    def _request_stop(self, signum, _frame) -> None:
        self.stop_requested = True

    def run(self) -> int:
        engine = self.engine
        try:
            engine.start()
        except BaseException:
            self.scope.close()
            raise
        previous = {sig: signal.signal(sig, self._request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            try:
                engine.add(self.scope.workload(self.request.identity), attached=self.scope.attached)
            except BaseException:
                self.scope.close()
                raise
            self.scope.started()
            # Windows and the duration from the same instant: a recording ends on a whole window.
            begin = engine.time_windows_from_now()
            duration = self.request.duration_s
            while True:
                engine.poll()
                out_of_time = duration is not None and time.monotonic() - begin >= duration
                if self.stop_requested or out_of_time or self.scope.finished():
                    break
                if engine.window_due():
                    engine.drain_window()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            self.scope.close()
            engine.close()
        return 0
