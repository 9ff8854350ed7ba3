"""A throwaway Postgres cluster for tests and benchmarks.

Postgres refuses to run as root, so the cluster is initialised and started as the
`postgres` user (Debian's package creates it) in a temporary directory, listening
on loopback at a free port. It is removed on stop.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from tests.support.ports import free_port


class PostgresUnavailable(RuntimeError):
    pass


def _pg_bin() -> Path:
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not candidates:
        raise PostgresUnavailable("no initdb under /usr/lib/postgresql (apt-get install postgresql)")
    return Path(candidates[-1]).parent


class ThrowawayPostgres:
    def __init__(self, user: str = "postgres", *, durable_commits: bool = False):
        # Off by default, for speed: a commit then returns before its WAL is written, so
        # a crash (an immediate stop) may lose the last commits. On, as Postgres ships.
        self.durable_commits = durable_commits
        self.bin = _pg_bin()
        self.port = free_port()
        self.run_as = [] if os.geteuid() != 0 else ["runuser", "-u", user, "--"]
        self.dir = Path(tempfile.mkdtemp(prefix="syscall-gate-pg-"))
        if os.geteuid() == 0:
            shutil.chown(self.dir, user)
        self.data = self.dir / "data"
        self._started = False

    def _run(self, *cmd: str) -> subprocess.CompletedProcess:
        result = subprocess.run([*self.run_as, *cmd], capture_output=True, text=True, timeout=120)
        if result.returncode != 0:
            raise PostgresUnavailable(f"{Path(cmd[0]).name} failed: {result.stderr.strip()[-500:]}")
        return result

    def start(self) -> "ThrowawayPostgres":
        self._run(str(self.bin / "initdb"), "-D", str(self.data), "-U", "gate", "-A", "trust",
                  "--no-sync", "-E", "UTF8", "--locale", "C")
        self.restart()
        return self

    def create_database(self, name: str) -> str:
        self._run(str(self.bin / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "gate", name)
        return self.url(name)

    def drop_database(self, name: str) -> None:
        self._run(str(self.bin / "dropdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "gate",
                  "--force", "--if-exists", name)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://gate@127.0.0.1:{self.port}/{database}"

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (the data stays until `remove`)."""
        if self._started:
            subprocess.run([*self.run_as, str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", mode,
                            "-w", "stop"], capture_output=True, timeout=60)
            self._started = False

    def restart(self) -> None:
        """Start the server on the existing data directory (after `stop`)."""
        options = (f"-c listen_addresses=127.0.0.1 -c port={self.port} -c unix_socket_directories={self.dir} "
                   f"-c fsync=off -c synchronous_commit={'on' if self.durable_commits else 'off'} "
                   "-c full_page_writes=off -c max_connections=200")
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-o", options,
                  "-l", str(self.dir / "log"), "-w", "-t", "60", "start")
        self._started = True

    def remove(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> "ThrowawayPostgres":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.remove()
