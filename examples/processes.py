"""The demo's child processes: each in its own process group, logged to a file, and all
stopped on the way out -- normal end, failure or Ctrl-C alike."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path


class DemoError(Exception):
    """A step of the demo failed: one line saying which part and why."""


def free_port() -> int:
    with socket.socket() as probe_socket:
        probe_socket.bind(("127.0.0.1", 0))
        return probe_socket.getsockname()[1]


def tail(path: Path, lines: int = 12) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join("    | " + line for line in text.splitlines()[-lines:])


def group_has_live_process(pgid: int) -> bool:
    """Whether a process of group `pgid` still runs. Zombies do not count: orphans are
    reaped by pid 1, on its own schedule, and a zombie holds nothing but a pid."""
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
            return True
    return False


@dataclass
class Child:
    name: str
    process: subprocess.Popen
    log_path: Path

    def running(self) -> bool:
        return self.process.poll() is None


class ProcessGroup:
    """Starts children in new sessions and ends them (SIGTERM, then SIGKILL) in reverse order."""

    def __init__(self, log_dir: Path, env: dict[str, str], cwd: Path):
        self.log_dir = log_dir
        self.env = env
        self.cwd = cwd
        self.children: list[Child] = []

    def start(self, name: str, argv: list[str]) -> Child:
        log_path = self.log_dir / f"{name}.log"
        log_file = open(log_path, "ab")
        log_file.write(("$ " + " ".join(argv) + "\n").encode())
        log_file.flush()
        process = subprocess.Popen(argv, stdout=log_file, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, env=self.env, cwd=self.cwd,
                                   start_new_session=True)
        log_file.close()  # the child holds its own descriptor
        child = Child(name, process, log_path)
        self.children.append(child)
        return child

    def run(self, name: str, argv: list[str], timeout: float) -> str:
        """Run a short command to completion; its output goes to its log and is returned."""
        log_path = self.log_dir / f"{name}.log"
        # The log is appended to by every run of `name`: return only this run's part.
        earlier = log_path.stat().st_size if log_path.exists() else 0
        child = self.start(name, argv)
        try:
            code = child.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.stop(child)
            raise DemoError(f"`{' '.join(argv[:3])} ...` took over {timeout:.0f} s "
                            f"(log: {child.log_path})\n{tail(child.log_path)}")
        output = child.log_path.read_bytes()[earlier:].decode(errors="replace").split("\n", 1)[-1]
        if code != 0:
            raise DemoError(f"`{' '.join(argv[:4])} ...` exited {code} (log: {child.log_path})\n"
                            f"{tail(child.log_path)}")
        return output

    def stop(self, child: Child, grace: float = 5.0) -> None:
        if child.running():
            self._signal_group(child, signal.SIGTERM)
            try:
                child.process.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                self._signal_group(child, signal.SIGKILL)
                child.process.wait(timeout=grace)
        # Descendants that outlived their leader (e.g. a service the probe launched);
        # return only once the group is gone, so "stopped" means stopped.
        self._signal_group(child, signal.SIGKILL)
        deadline = time.monotonic() + grace
        while group_has_live_process(child.process.pid) and time.monotonic() < deadline:
            time.sleep(0.05)

    def stop_all(self) -> None:
        for child in reversed(self.children):
            try:
                self.stop(child)
            except (OSError, subprocess.TimeoutExpired):
                pass

    @staticmethod
    def _signal_group(child: Child, signum: int) -> None:
        try:
            os.killpg(child.process.pid, signum)
        except (ProcessLookupError, PermissionError):
            pass


def wait_for(condition, timeout: float, what: str, child: Child | None = None,
             interval: float = 0.2) -> None:
    """Poll `condition()` until true; fail naming `what` (and the child's log) otherwise."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        if child is not None and not child.running():
            raise DemoError(f"{child.name} exited with code {child.process.returncode} while waiting "
                            f"for {what} (log: {child.log_path})\n{tail(child.log_path)}")
        time.sleep(interval)
    detail = f" (log: {child.log_path})\n{tail(child.log_path)}" if child else ""
    raise DemoError(f"timed out after {timeout:.0f} s waiting for {what}{detail}")
