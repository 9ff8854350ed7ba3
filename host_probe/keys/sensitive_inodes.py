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


def sensitive_files(extra: Iterable[str] = ()) -> dict[str, os.stat_result]:
    """configured path -> its stat, for each regular file the patterns name now."""
    files: dict[str, os.stat_result] = {}
    for pattern in (*DEFAULT_SENSITIVE_PATHS, *extra):
        if pattern.startswith(NOT_BY_INODE):
            continue
        for path in _expanded(pattern):
            try:
                found = os.stat(path)
            except OSError:
                continue
            if Path(path).is_file() and found.st_ino:
                files.setdefault(os.path.normpath(path), found)
    return files


def kernel_dev(st_dev: int) -> int:
    """The kernel's own dev_t (MKDEV: major << 20 | minor), as i_sb->s_dev holds it;
    stat's st_dev is the userspace encoding."""
    return os.major(st_dev) << 20 | os.minor(st_dev)


def fill(bpf, extra: Iterable[str] = ()) -> int:
    """Write the sensitive files' inodes into the probe's map; how many were written
    (the map's capacity bounds them: the rest are still judged by their path)."""
    table = bpf["sensitive_inodes"]
    written = 0
    for path, found in sensitive_files(extra).items():
        key, text = table.Key(), table.Leaf()
        key.dev, key.ino = kernel_dev(found.st_dev), found.st_ino
        encoded = path.encode()[: len(text.path) - 1]
        text.path = encoded
        try:
            table[key] = text
        except Exception:  # noqa: BLE001 -- bcc raises bare Exception when the map is full
            break
        written += 1
    return written
