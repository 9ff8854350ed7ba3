"""Docker daemons for the discovery tests.

The host's own daemon is used when one answers on /var/run/docker.sock; otherwise
one is started here (the test VM has no systemd to start it). On a hybrid cgroup
host Docker runs in its cgroup v1 mode, so a second daemon is started in its own
mount namespace, where /sys/fs/cgroup is the cgroup2 mount: Docker then runs in
its cgroup v2 mode, with its own data root, exec root and socket.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tarfile
import tempfile
import time
from pathlib import Path

import docker

HOST_SOCKET = "/var/run/docker.sock"
CGROUP2_DAEMON = "syscall-gate-dockerd-cgroup2"
IMAGE_REPOSITORY = "localhost:5000/syscall-gate-busybox"  # a registry port, never contacted
IMAGE_TAG = "v7"


class DaemonFailed(RuntimeError):
    pass


class Dockerd:
    def __init__(self, socket: str, command: list[str], log_path: Path):
        self.socket = socket
        self.command = command
        self.log_path = log_path
        self.process: subprocess.Popen | None = None

    @classmethod
    def host(cls, log_dir: Path) -> Dockerd:
        return cls(HOST_SOCKET, ["dockerd", "--host", f"unix://{HOST_SOCKET}"], log_dir / "dockerd-host.log")

    @classmethod
    def in_cgroup2_namespace(cls, cgroup2_root: Path, log_dir: Path) -> Dockerd:
        socket = f"/run/{CGROUP2_DAEMON}.sock"
        dockerd = ["dockerd", "--host", f"unix://{socket}", "--data-root", f"/var/lib/{CGROUP2_DAEMON}",
                   "--exec-root", f"/run/{CGROUP2_DAEMON}", "--pidfile", f"/run/{CGROUP2_DAEMON}.pid",
                   "--bridge", "none", "--iptables=false", "--ip-masq=false"]
        # a private mount namespace: the bind mount is seen by this daemon (and its
        # containerd, runc and containers) only
        command = ["unshare", "--mount", "--propagation", "private", "sh", "-c",
                   'mount --bind "$0" /sys/fs/cgroup && exec "$@"', str(cgroup2_root), *dockerd]
        return cls(socket, command, log_dir / f"{CGROUP2_DAEMON}.log")

    def client(self) -> docker.APIClient:
        return docker.APIClient(base_url=f"unix://{self.socket}", timeout=30)

    def answers(self) -> bool:
        try:
            return Path(self.socket).exists() and self.client().ping()
        except Exception:  # refused, timed out, a half-started daemon: not answering yet
            return False

    def start(self, timeout: float = 60) -> None:
        """Start the daemon unless one answers already (that one is left running at stop())."""
        if self.answers():
            return
        if os.geteuid() != 0 or not shutil.which(self.command[0]) or not shutil.which("dockerd"):
            raise DaemonFailed("needs root and dockerd (apt: docker.io; `make setup` installs it)")
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(self.command, stdout=log, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + timeout
        while not self.answers():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                tail = self.log_path.read_text(errors="replace").splitlines()[-5:]
                raise DaemonFailed(f"`{' '.join(self.command)}` did not answer on {self.socket}: {' | '.join(tail)}")
            time.sleep(0.2)

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None


def static_busybox() -> str:
    path = shutil.which("busybox") or ""
    description = subprocess.run(["file", "-L", path], capture_output=True, text=True).stdout if path else ""
    return path if "statically linked" in description else ""


def ensure_busybox_image(client: docker.APIClient, repository: str = IMAGE_REPOSITORY,
                         labels: dict[str, str] | None = None) -> str:
    """A local image of a static busybox (`docker import` of a one-binary rootfs: no
    registry is needed), with the given LABELs."""
    reference = f"{repository}:{IMAGE_TAG}"
    if client.images(name=reference):
        return reference
    with tempfile.TemporaryDirectory() as scratch:
        rootfs = Path(scratch) / "rootfs.tar"
        with tarfile.open(rootfs, "w") as tar:
            tar.add(static_busybox(), arcname="bin/busybox")
            for applet in ("sh", "sleep"):
                link = tarfile.TarInfo(f"bin/{applet}")
                link.type, link.linkname = tarfile.SYMTYPE, "busybox"
                tar.addfile(link)
        client.import_image(src=str(rootfs), repository=repository, tag=IMAGE_TAG,
                            changes=[f"LABEL {key}={value}" for key, value in (labels or {}).items()])
    return reference
