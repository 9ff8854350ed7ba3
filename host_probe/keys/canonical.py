"""Make an opened path canonical, in its opener's own view, so the judge's path
rules see the file the kernel opened however it was spelled.

The kernel (bpf/probe.bpf.c, record_open) hooks sys_enter, where a path is the
text the process passed. It keys a path by that text, with the opener's tgid and
dirfd mixed in where the text names a different file for another opener (a
relative path, /proc/self/..., /proc/thread-self/...), and stores the text with
its first opener's tgid and dirfd. Here, once per new key at the drain:

- a relative path is joined to the opener's working directory (/proc/<tgid>/cwd)
  or to its dirfd (/proc/<tgid>/fd/<dirfd>);
- /proc/self and /proc/thread-self become /proc/<tgid>, and the opener's own
  /proc/<tgid>/root, /cwd and /fd/<n> become what they point to;
- `.`, `..` and `//` are collapsed, and symlinks are followed one component at a
  time as the process sees them (under /proc/<tgid>/root when its root or mount
  namespace is not ours, so a container's absolute link stays in the container);
  at most 40 links, as the kernel allows.

A component that does not exist ends the walk, and the path is not resolved: the
open failed, or what it named has gone since, and a name that has gone may have
been a link to anything (a symlink to /etc/shadow created, opened and removed
between two drains): the rest is joined lexically and the key says <unresolved>,
so the judge's sensitive rule reads its last components. What else cannot be
resolved comes back with resolved=False and its best lexical form: the opener
gone before the drain when the path depended on it (or when its root was not
ours and no process of its workload is left to look through), a component we may
not read, a link loop, a path the kernel cut at 255 bytes.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass

from gate_contract.keys import TRUNCATED
from host_probe.kernel.contract import AT_FDCWD

MAX_LINKS = 40  # the kernel's MAXSYMLINKS
HOST_VIEW = ""  # the opener sees the file system as we do: paths are looked up as they are


@dataclass(frozen=True)
class Canonical:
    path: str
    resolved: bool


@dataclass(frozen=True)
class _Link:
    target: str


_MISSING, _PRESENT, _DENIED = "missing", "present", "denied"
# Nothing below it to look up, by what it is (a /proc file, a /proc link to a pipe), not
# because it has gone: the rest is joined lexically and the path stays resolved.
_LEXICAL = "lexical"


def lexical(path: str) -> str:
    """`.`, `..` and `//` collapsed without looking at the file system (a relative
    path keeps its leading `..`)."""
    absolute = path.startswith("/")
    parts: list[str] = []
    for name in path.split("/"):
        if name in ("", "."):
            continue
        if name == "..":
            if parts and parts[-1] != "..":
                parts.pop()
            elif not absolute:
                parts.append("..")
            continue
        parts.append(name)
    text = "/".join(parts)
    return "/" + text if absolute else (text or ".")


class _Unresolvable(Exception):
    pass


class Canonicaliser:
    """One per drain loop; `new_drain()` forgets what the file system looked like
    (entries and views are cached for one drain only)."""

    def __init__(self, proc: str = "/proc"):
        self.proc = proc
        self._slot_views: dict[int, str] = {}  # slot -> the view its last live opener had
        self.new_drain()

    def new_drain(self) -> None:
        self._entries: dict[str, object] = {}
        self._views: dict[tuple[int, int], str | None] = {}
        self._ours = self._identity(f"{self.proc}/self")

    # -- the opener's view -----------------------------------------------------
    def _identity(self, process: str) -> tuple[int, int, int] | None:
        """(root's device, root's inode, mount namespace): two processes with the same
        see the same files under the same names."""
        try:
            root = os.stat(f"{process}/root")
            return root.st_dev, root.st_ino, os.stat(f"{process}/ns/mnt").st_ino
        except OSError:
            return None

    def _view_of(self, pid: int) -> str | None:
        identity = self._identity(f"{self.proc}/{pid}")
        if identity is None:
            return None
        return HOST_VIEW if identity == self._ours else f"{self.proc}/{pid}/root"

    def watch(self, slot: int, pids) -> None:
        """A workload took `slot`: until one of its openers is seen alive at a drain,
        its view is that of the first of `pids` (its processes when it was added)."""
        self._slot_views.pop(slot, None)
        for pid in sorted(pids):
            view = self._view_of(pid)
            if view is not None:
                self._slot_views[slot] = view
                return

    def _view(self, tgid: int, slot: int) -> str | None:
        """Where the opener's `/` is, seen from here: HOST_VIEW, /proc/<tgid>/root, or
        None when the opener is gone and its workload left no view to look through
        (an absolute path names the same file for every process of a workload)."""
        if (tgid, slot) not in self._views:
            view = self._view_of(tgid)
            if view is not None:
                self._slot_views[slot] = view
            else:
                view = self._slot_views.get(slot)
                if view and not os.path.exists(view):
                    view = None
            self._views[tgid, slot] = view
        return self._views[tgid, slot]

    def _entry(self, path: str) -> object:
        """What `path` (as seen from here) is: a _Link, _PRESENT, _MISSING or _DENIED;
        cached for the drain, so each directory prefix is looked at once."""
        found = self._entries.get(path)
        if found is None:
            try:
                mode = os.lstat(path).st_mode
                found = _Link(os.readlink(path)) if stat.S_ISLNK(mode) else _PRESENT
            except (FileNotFoundError, NotADirectoryError):
                found = _MISSING
            except OSError:
                found = _DENIED
            self._entries[path] = found
        return found

    def _process_link(self, tgid: int, name: str) -> str:
        """The target of the opener's own /proc/<tgid>/<name> (cwd, root, fd/<n>), as it sees it."""
        try:
            return os.readlink(f"{self.proc}/{tgid}/{name}")
        except OSError:
            raise _Unresolvable from None

    # -- the walk ----------------------------------------------------------------
    def canonical(self, text: str, tgid: int, dirfd: int, slot: int, truncated: bool = False) -> Canonical:
        """The canonical absolute path of `text` opened by `tgid` (relative to `dirfd`)."""
        if truncated:  # the tail is unknown: nothing to follow it with
            return Canonical(lexical(text) + TRUNCATED, False)
        try:
            if not text.startswith("/"):
                base = self._process_link(tgid, "cwd" if dirfd == AT_FDCWD else f"fd/{dirfd}")
                if not base.startswith("/"):  # a dirfd that is no directory (pipe:[..])
                    raise _Unresolvable
                text = f"{base}/{text}"
            view = self._view(tgid, slot)
            if view is None:
                raise _Unresolvable
            return Canonical(*self._walk(text, tgid, view))
        except _Unresolvable:
            return Canonical(self._best_guess(text, tgid), False)

    def program(self, text: str, slot: int) -> str:
        """The file an exec of `text` ran, as /proc/<pid>/exe names it (symlinks
        resolved: /usr/bin/redis-server is /usr/bin/redis-check-rdb), seen in the
        workload's view; the text itself, lexically, when it cannot be resolved (a
        relative name: the exec key carries no opener to resolve it against)."""
        if not text.startswith("/"):
            return lexical(text)
        try:
            view = self._slot_views.get(slot)
            if view is None or (view != HOST_VIEW and not os.path.exists(view)):
                raise _Unresolvable
            return self._walk(text, 0, view)[0]  # a name gone since: walked as far as it exists
        except _Unresolvable:
            return lexical(text)

    @staticmethod
    def _best_guess(text: str, tgid: int) -> str:
        path = lexical(text)
        for alias in ("/proc/self", "/proc/thread-self"):
            if path == alias or path.startswith(alias + "/"):
                return f"/proc/{tgid}" + path[len(alias):]
        return path

    def _walk(self, path: str, tgid: int, view: str) -> tuple[str, bool]:
        """(the path walked as far as it exists then joined lexically, did it all exist?)"""
        pending = path.split("/")[::-1]  # a stack: the next component last
        resolved: list[str] = []
        own, links, exists, vanished = str(tgid), 0, True, False
        while pending:
            name = pending.pop()
            if name in ("", "."):
                continue
            if name == "..":
                if resolved:
                    resolved.pop()
                continue
            if exists and resolved == ["proc"] and name in ("self", "thread-self"):
                name = own
            resolved.append(name)
            if not exists:
                continue
            entry = self._opener_entry(resolved, tgid, own)
            if entry is None:
                entry = self._entry(view + "/" + "/".join(resolved))
            if isinstance(entry, _Link) and resolved[0] == "proc" and ":" in entry.target.split("/")[0]:
                entry = _LEXICAL  # pipe:[..], mnt:[..], anon_inode:..: a /proc link with no path behind it
            if entry is _MISSING or entry is _LEXICAL:
                exists, vanished = False, entry is _MISSING
                continue
            if entry is _DENIED:
                raise _Unresolvable
            if entry is _PRESENT:
                continue
            links += 1
            if links > MAX_LINKS:
                raise _Unresolvable
            resolved.pop()
            if entry.target.startswith("/"):
                resolved = []
            pending.extend(reversed(entry.target.split("/")))
        return "/" + "/".join(resolved), not vanished

    def _opener_entry(self, resolved: list[str], tgid: int, own: str) -> object | None:
        """What a path under the opener's own /proc/<tgid> is, read through our /proc
        (in a container's view /proc/<tgid> names another process, or none); None for
        any other path. root, cwd and fd/<n> are links to what the opener sees; a
        plain file (status, maps...) holds no link, so the rest is lexical even once
        the opener is gone; past the others (task, ns, exe...) a gone opener leaves
        nothing to resolve."""
        if len(resolved) < 2 or resolved[0] != "proc" or resolved[1] != own:
            return None
        depth, name = len(resolved), resolved[2] if len(resolved) > 2 else ""
        if depth == 2 or (depth == 3 and name == "fd"):
            return _PRESENT
        if (depth == 3 and name in ("root", "cwd")) or (depth == 4 and name == "fd"):
            return _Link(self._process_link(tgid, "/".join(resolved[2:])))
        if name in ("task", "map_files", "exe", "ns", "fdinfo"):
            if not os.path.exists(f"{self.proc}/{tgid}"):
                raise _Unresolvable
            return None
        return _LEXICAL
