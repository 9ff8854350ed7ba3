"""Open /etc/shadow (or write a file) spelled one way or more, for tests/probe/
test_canonical_paths.py and tests/kernels/test_file_hook.py; then hold for --hold
seconds, so a drain sees the opener (its working directory, its fds) alive, unless
--let-go closes its fds and removes the symlink first.

  python spellings.py SPELLING [SPELLING ...] --dir DIR [--hold S] [--let-go]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

LONG_NAME = "/".join(["d" * 50] * 6)  # 305 bytes below --dir: more than the kernel's 255


def open_spelled(spelling: str, work: Path) -> list[int]:
    """The fds it holds open (a directory fd must outlive the drain to be resolved)."""
    read = os.O_RDONLY
    if spelling == "double-slash":
        return [os.open("/etc//shadow", read)]
    if spelling == "dot":
        return [os.open("/etc/./shadow", read)]
    if spelling == "dot-dot":
        deep = work / "a" / "b" / "c"
        deep.mkdir(parents=True)
        os.chdir(deep)
        return [os.open("../" * (len(deep.parts) - 1) + "etc/shadow", read)]
    if spelling == "dirfd":
        directory = os.open("/etc", read)
        return [directory, os.open("shadow", read, dir_fd=directory)]
    if spelling == "proc-self-root":
        return [os.open("/proc/self/root/etc/shadow", read)]
    if spelling == "symlink":
        return [os.open(work / "innocent.conf", read)]  # the test made it a link to /etc/shadow
    if spelling == "relative-write":
        os.chdir(work)
        os.mkdir("logs")
        return [os.open("logs/app.log", os.O_WRONLY | os.O_CREAT)]
    if spelling == "long":
        try:
            os.open(f"{work}/{LONG_NAME}", read)
        except OSError:  # ENOENT / ENAMETOOLONG: the attempt is what the probe records
            pass
        return []
    if spelling == "refused":
        # a child that is not root: EACCES at the permission check, before any file is opened
        child = os.fork()
        if child == 0:
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            try:
                os.open("/etc//shadow", read)
            except PermissionError:
                os._exit(0)
            os._exit(1)
        _, status = os.waitpid(child, 0)
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit("the unprivileged child could read /etc/shadow")
        return []
    if spelling == "none":
        return []
    raise SystemExit(f"unknown spelling {spelling!r}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("spellings", nargs="+", metavar="spelling")
    parser.add_argument("--dir", required=True)
    parser.add_argument("--hold", type=float, default=1.5)
    parser.add_argument("--let-go", action="store_true",
                        help="close every fd and remove the symlink (if opened through it) before holding")
    args = parser.parse_args()
    held = [fd for spelling in args.spellings for fd in open_spelled(spelling, Path(args.dir))]
    if args.let_go:
        for fd in held:
            os.close(fd)
        if "symlink" in args.spellings:
            (Path(args.dir) / "innocent.conf").unlink()
    time.sleep(args.hold)


if __name__ == "__main__":
    main()
