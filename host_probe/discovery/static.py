"""The static source: workloads named in the agent's config file.

Each entry names its service and role, a version (given, or read from a file or
a command at every poll, so deploy tooling updates it without restarting the
agent), and what to watch: a cgroup v2 directory, a systemd unit (its cgroup),
or a command-line pattern together with the process's owner and executable (the
matching processes and their descendants).

A process chooses its own argv (`exec -a`, setproctitle), so a command pattern
alone would let any user's process name itself into a service's baseline. The
owner (real and effective uid) and the executable the kernel loaded
(/proc/<pid>/exe) are what the operator asserts and the process cannot choose.

    workloads:
      - service: web
        version: v41            # or version_file: /etc/web/VERSION, or version_command: [...]
        role: baseline
        cgroup: /sys/fs/cgroup/system.slice/web.service
"""

from __future__ import annotations

import os
import pwd
import re
import subprocess
from pathlib import Path
from typing import Optional, Union

from pydantic import BaseModel, ConfigDict, Field, model_validator

from gate_contract.records import BASELINE, Role
from host_probe.discovery import DiscoveryError, Identity, Workload
from host_probe.discovery.cgroups import cgroup2_mount

VERSION_COMMAND_TIMEOUT_S = 5


class StaticWorkload(BaseModel):
    model_config = ConfigDict(extra="forbid")

    service: str = Field(min_length=1, max_length=200)
    role: Role = BASELINE
    version: Optional[str] = Field(None, min_length=1, max_length=200)
    version_file: Optional[Path] = None
    version_command: Optional[list[str]] = Field(None, min_length=1)
    cgroup: Optional[str] = None
    systemd_unit: Optional[str] = Field(None, pattern=r"^[\w@.:-]+\.(service|scope|slice)$")
    command: Optional[str] = Field(None, description="a regular expression matched against /proc/<pid>/cmdline")
    user: Optional[Union[int, str]] = Field(None, description="with command: the processes' owner (a user name "
                                                              "or uid), real and effective")
    executable: Optional[str] = Field(None, description="with command: the program the kernel loaded "
                                                        "(/proc/<pid>/exe), an absolute path")
    name: Optional[str] = Field(None, description="unique name of the entry (default: the service)")

    @model_validator(mode="after")
    def _one_version_one_scope(self) -> "StaticWorkload":
        versions = [v for v in (self.version, self.version_file, self.version_command) if v]
        if len(versions) != 1:
            raise ValueError("give exactly one of version, version_file, version_command")
        scopes = [s for s in (self.cgroup, self.systemd_unit, self.command) if s]
        if len(scopes) != 1:
            raise ValueError("give exactly one of cgroup, systemd_unit, command")
        if self.cgroup and not self.cgroup.startswith("/"):
            raise ValueError(f"cgroup {self.cgroup!r} must be an absolute path")
        if self.command:
            try:
                re.compile(self.command)
            except re.error as exc:
                raise ValueError(f"command {self.command!r} is not a regular expression ({exc})") from None
            if self.user is None or not self.executable:
                raise ValueError("command needs user and executable too: a process can rename its argv, not "
                                 "its owner or the program it runs")
            if not self.executable.startswith("/"):
                raise ValueError(f"executable {self.executable!r} must be an absolute path")
            self.user = uid_of(self.user)
        elif self.user is not None or self.executable:
            raise ValueError("user and executable go with command (a cgroup or systemd unit is already bound "
                             "by whoever made it)")
        return self

    @property
    def key(self) -> str:
        return self.name or self.service


def read_version(entry: StaticWorkload) -> str:
    if entry.version:
        return entry.version
    if entry.version_file:
        try:
            text = entry.version_file.read_text().strip()
        except OSError as exc:
            raise DiscoveryError(f"{entry.key}: cannot read version_file {entry.version_file} ({exc.strerror})")
    else:
        try:
            result = subprocess.run(entry.version_command, capture_output=True, text=True,
                                    timeout=VERSION_COMMAND_TIMEOUT_S)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise DiscoveryError(f"{entry.key}: version_command failed ({exc})") from None
        if result.returncode != 0:
            raise DiscoveryError(f"{entry.key}: version_command exited {result.returncode}: "
                                 f"{result.stderr.strip()[:200]}")
        text = result.stdout.strip()
    if not text:
        raise DiscoveryError(f"{entry.key}: the version read is empty")
    return text.splitlines()[0][:200]


def uid_of(user: int | str) -> int:
    if isinstance(user, int) or user.isdigit():
        return int(user)
    try:
        return pwd.getpwnam(user).pw_uid
    except KeyError:
        raise ValueError(f"user {user!r} is not a user of this host (give a name from /etc/passwd or a uid)") from None


def _owned_by(pid: str, uid: int) -> bool:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Uid:"):
            real, effective = line.split()[1:3]
            return int(real) == uid and int(effective) == uid
    return False


def matching_processes(pattern: str, uid: int, executable: str, own_pid: int | None = None) -> frozenset[int]:
    """Processes owned by `uid` that run `executable` and whose command line (arguments
    joined by spaces) matches, whose parent does not match too: the roots of the
    matching trees."""
    regex = re.compile(pattern)
    own_pid = os.getpid() if own_pid is None else own_pid
    matched: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == own_pid:
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            if not cmdline or not regex.search(cmdline.strip()):
                continue
            # a replaced binary reads "<path> (deleted)": not the program the operator named
            if os.readlink(f"/proc/{entry}/exe") != executable or not _owned_by(entry, uid):
                continue
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        matched[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
    return frozenset(pid for pid, parent in matched.items() if parent not in matched)


class StaticSource:
    """`problems` says, after each poll, which entries could not be read; such an
    entry keeps its last known version (a version file being rewritten must not
    close a recording), or is not watched until its version can be read."""

    name = "static"

    def __init__(self, entries: list[StaticWorkload], cgroup_root: Path | None = None):
        self.entries = entries
        self.cgroup_root = cgroup_root or cgroup2_mount()
        self.problems: list[str] = []
        self.expected: list[Workload] = []  # after each poll: cgroup entries whose directory is not made yet
        self._versions: dict[str, str] = {}

    def _unit_cgroup(self, unit: str) -> str:
        for slice_dir in ("system.slice", "user.slice"):
            candidate = self.cgroup_root / slice_dir / unit
            if candidate.is_dir():
                return str(candidate)
        return ""

    def _identity(self, entry: StaticWorkload) -> Identity | None:
        try:
            self._versions[entry.key] = read_version(entry)
        except DiscoveryError as exc:
            self.problems.append(str(exc))
        version = self._versions.get(entry.key)
        return Identity(entry.service, version, entry.role) if version else None

    def _workload(self, entry: StaticWorkload, identity: Identity) -> Workload | None:
        if entry.cgroup:
            present = Path(entry.cgroup, "cgroup.procs").exists()
            return Workload(self.name, entry.key, identity, cgroup=entry.cgroup) if present else None
        if entry.systemd_unit:
            cgroup = self._unit_cgroup(entry.systemd_unit)
            return Workload(self.name, entry.key, identity, cgroup=cgroup) if cgroup else None
        pids = matching_processes(entry.command, entry.user, entry.executable)
        return Workload(self.name, entry.key, identity, pids=pids) if pids else None

    def poll(self) -> list[Workload]:
        self.problems = []
        found, self.expected = [], []
        for entry in self.entries:
            identity = self._identity(entry)
            workload = self._workload(entry, identity) if identity else None
            if workload:
                found.append(workload)
            elif identity and (entry.cgroup or entry.systemd_unit):
                # not made yet: the agent has the kernel register it as it is made
                cgroup = entry.cgroup or str(self.cgroup_root / "system.slice" / entry.systemd_unit)
                self.expected.append(Workload(self.name, entry.key, identity, cgroup=cgroup))
        return found
