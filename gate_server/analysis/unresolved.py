"""A file the probe could not resolve on one side is the same file as the one of the
same name the other side resolved.

The probe keys a path it could not make canonical as `<unresolved><lexical path>`
(gate_contract/keys.py): a temporary file deleted before the drain, an opener gone
with the directory fd its relative path was opened against. Whether that happens
is a matter of timing, so one recording holds `/srv/app/cache/req-<tmp>.tmp:rw` and
the next `<unresolved>/srv/app/cache/req-<tmp>.tmp:rw`; a database's relative
`<unresolved>base/<n>/<n>:rw` is `/var/lib/db/base/<n>/<n>:rw` of a recording that
caught its opener alive. Judged apart, each is a "new write path" and pauses a
benign rollout (issue 23: the grown evaluation set found both).

Before judging, a canary file key the baseline lacks takes the baseline's key of
the same file (counted, or held at attach: its inventory), with the same access mode: an unresolved absolute path whose
lexical text is the other's path, or an unresolved relative path (two components
at least) that only one baseline path ends with. A key the sensitive rules match
by its tail is never renamed: a secret spelled so that it cannot be resolved must
still read as itself.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Callable

from gate_contract.keys import UNRESOLVED, FileKey, parse_file_key
from gate_contract.profile import Profile

MIN_RELATIVE_COMPONENTS = 2


def _tail_match(relative: str, paths: list[str]) -> str | None:
    """The one path of `paths` ending with `relative` at a component boundary, else None."""
    parts = [p for p in relative.split("/") if p not in ("", ".")]
    if len(parts) < MIN_RELATIVE_COMPONENTS or ".." in parts:
        return None
    tail = "/" + "/".join(parts)
    found = {path for path in paths if path.endswith(tail)}
    return found.pop() if len(found) == 1 else None


def _lexical(file: FileKey) -> str:
    return file.path.removeprefix(UNRESOLVED)


def baseline_name(key: str, baseline_files: dict[str, list[tuple[str, str]]],
                  is_sensitive: Callable[[FileKey], bool]) -> str | None:
    """The baseline key naming the same file as canary file key `key`, or None.
    `baseline_files`: mode -> [(path as far as known, key)] of the baseline's file keys."""
    file = parse_file_key(key)
    if is_sensitive(file):
        return None
    candidates = baseline_files.get(file.mode, [])
    text = _lexical(file)
    if text.startswith("/"):
        # the same absolute name, resolved on one side only
        for path, other in candidates:
            if path == text and parse_file_key(other).is_unresolved != file.is_unresolved:
                return other
        return None
    if not file.is_unresolved:
        return None
    by_path = {path: other for path, other in candidates if path.startswith("/")}
    match = _tail_match(text, list(by_path))
    return by_path[match] if match else None


def align_unresolved(baseline: Profile, canary: Profile,
                     is_sensitive: Callable[[FileKey], bool]) -> tuple[Profile, list[str]]:
    """(the canary with its file keys renamed to the baseline's names of the same files,
    the notes saying how many were)."""
    # what it held at attach too: a long-running database's table files are open, not opened
    baseline_keys = {key for window in baseline.windows for kind, key in (*window.counts, *window.inventory)
                     if kind == "file"}
    canary_keys = {key for window in canary.windows for kind, key in window.counts if kind == "file"}
    baseline_files: dict[str, list[tuple[str, str]]] = {}
    for key in baseline_keys:
        file = parse_file_key(key)
        baseline_files.setdefault(file.mode, []).append((_lexical(file), key))
    renamed = {}
    for key in sorted(canary_keys - baseline_keys):
        other = baseline_name(key, baseline_files, is_sensitive)
        if other is not None:
            renamed[key] = other
    if not renamed:
        return canary, []
    windows = []
    for window in canary.windows:
        counts: dict = {}
        for (kind, key), n in window.counts.items():
            name = (kind, renamed.get(key, key)) if kind == "file" else (kind, key)
            counts[name] = counts.get(name, 0) + n
        windows.append(replace(window, counts=counts))
    note = (f"{len(renamed)} canary file key{'s' if len(renamed) != 1 else ''} the probe resolved on one side "
            "only read as the baseline's key of the same file (unresolved: a name gone before the drain)")
    return replace(canary, windows=windows), [note]
