"""`host-probe record`: the engine with one workload, named on the command line
(a pid and its descendants, a cgroup v2 directory, or a command we launch),
for a fixed time or until the workload ends."""

from __future__ import annotations

import os
import shutil
import signal
import time
from dataclasses import dataclass

from host_probe.discovery import Identity, Workload
from host_probe.engine import Engine, EngineConfig
from host_probe.errors import ScopeError
from host_probe.workloads import check_cgroup, is_running

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


class CommandScope:
    """Launch CMD held before exec until its slot is written, so its very first
    syscalls (the dynamic loader's opens) are seen."""

    attached = False  # it holds nothing of its own yet: no inventory

    def __init__(self, argv: list[str]):
        if not argv:
            raise ScopeError("give a command after --, e.g. host-probe record ... -- ./server --port 8080")
        if shutil.which(argv[0]) is None:
            raise ScopeError(f"command not found: {argv[0]}")
        self.argv = argv
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
                os.execvp(self.argv[0], self.argv)
            except OSError as exc:
                os.write(2, f"host-probe: cannot run {self.argv[0]}: {exc.strerror}\n".encode())
            os._exit(127)
        os.close(hold_read)
        self.pid, self._release_fd = pid, hold_write

    def started(self) -> None:
        """The slot is written: let CMD go."""
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
            begin = time.monotonic()
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
