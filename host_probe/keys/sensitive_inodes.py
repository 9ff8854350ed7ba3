"""The sensitive files the fentry file hook knows by inode: a hard link or a bind
mount of a secret is another name of the same (device, inode), so an open of it is
keyed by the secret's configured path (bpf/probe.bpf.c, sensitive_inodes).

The set is the judge's default sensitive paths (gate_contract/sensitive.py) and the
recording's own `--sensitive-path` globs, expanded to the files that exist at the
probe's start. /proc and /sys are left to the path: their inodes are per process or
made on demand, and bpf_d_path names them truly."""

from __future__ import annotations

import glob
import os
from collections.abc import Iterable
from pathlib import Path

from gate_contract.sensitive import DEFAULT_SENSITIVE_PATHS

NOT_BY_INODE = ("/proc/", "/sys/")
HOMES = ("/root", "/home/*")


def _expanded(pattern: str) -> list[str]:
    patterns = [home + pattern[1:] for home in HOMES] if pattern.startswith("~/") else [pattern]
    return [found for each in patterns for found in glob.glob(each)]


def sensitive_files(extra: Iterable[str] = ()) -> dict[str, tuple[int, int]]:
    """configured path -> the kernel's (device, inode) of it, for each regular file the
    patterns name now."""
    files: dict[str, tuple[int, int]] = {}
    devices = _mount_devices()
    for pattern in (*DEFAULT_SENSITIVE_PATHS, *extra):
        if pattern.startswith(NOT_BY_INODE):
            continue
        for path in _expanded(pattern):
            if not Path(path).is_file() or os.path.normpath(path) in files:
                continue
            found = kernel_identity(path, devices)
            if found:
                files[os.path.normpath(path)] = found
    return files


def _mount_devices() -> dict[int, int]:
    """mount id -> its superblock's device, as the kernel holds it (MKDEV)."""
    devices = {}
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split()
        major, minor = (int(n) for n in fields[2].split(":"))
        devices[int(fields[0])] = major << 20 | minor
    return devices


def kernel_identity(path: str, devices: dict[int, int]) -> tuple[int, int] | None:
    """The (device, inode) security_file_open sees for `path`: the opened file's
    inode and its superblock's device, read back from /proc/self/fdinfo (mnt_id, ino)
    and mountinfo. stat() can say otherwise: overlayfs reports a per-layer pseudo
    device for a file (the VM tier's /tmp), btrfs a subvolume's. stat() where fdinfo
    has no `ino:` (before Linux 5.14)."""
    try:
        fd = os.open(path, os.O_PATH)
    except OSError:
        return None
    try:
        info = dict(line.split(":", 1) for line in Path(f"/proc/self/fdinfo/{fd}").read_text().splitlines()
                    if ":" in line)
        if "ino" in info and int(info["mnt_id"]) in devices:
            return devices[int(info["mnt_id"])], int(info["ino"])
        found = os.fstat(fd)
        return kernel_dev(found.st_dev), found.st_ino
    except (OSError, ValueError):
        return None
    finally:
        os.close(fd)


def kernel_dev(st_dev: int) -> int:
    """The kernel's own dev_t (MKDEV: major << 20 | minor), as i_sb->s_dev holds it;
    stat's st_dev is the userspace encoding."""
    return os.major(st_dev) << 20 | os.minor(st_dev)


def fill(bpf, extra: Iterable[str] = ()) -> int:
    """Write the sensitive files' inodes into the probe's map; how many were written
    (the map's capacity bounds them: the rest are still judged by their path)."""
    table = bpf["sensitive_inodes"]
    written = 0
    for path, (dev, ino) in sensitive_files(extra).items():
        key, text = table.Key(), table.Leaf()
        key.dev, key.ino = dev, ino
        # the whole buffer less its NUL (len(text.path) is the text's length, 0 when new:
        # it cut every configured path's last byte, "/etc/shado", in the VM tier)
        encoded = path.encode()[: type(text).path.size - 1]
        text.path = encoded
        try:
            table[key] = text
        except Exception:  # noqa: BLE001 -- bcc raises bare Exception when the map is full
            break
        written += 1
    return written
