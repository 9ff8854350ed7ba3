"""Matchers the config is made of: path globs and network destinations (CIDR:port).

Both parse once (when the config is validated) and match many feature keys, so
globs are compiled into one regular expression per list rather than calling
`fnmatch` per pattern per feature.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable, Iterable, Optional, Union

from gate_contract.keys import INET, INET6, UNIX, UNNAMED, FileKey, parse_address
from gate_contract.kinds import BY_NAME, KeyShape

HOME_PREFIXES = ("/root/", "/home/*/")


def expand_home(pattern: str) -> list[str]:
    """'~/.aws/credentials' means that file in any home directory (root's or a user's)."""
    if pattern.startswith("~/"):
        return [prefix + pattern[2:] for prefix in HOME_PREFIXES]
    return [pattern]


def check_glob(pattern: str) -> str:
    """Validate one path glob (absolute, or ~/ for any home); returns it unchanged."""
    if not pattern or not (pattern.startswith("/") or pattern.startswith("~/")):
        raise ValueError(f"path glob {pattern!r} must start with '/' or '~/'")
    return pattern


@lru_cache(maxsize=256)
def _compiled(patterns: tuple[str, ...]) -> Optional[re.Pattern]:
    if not patterns:
        return None
    # fnmatch semantics: '*' also crosses '/', so "/var/lib/app/*" covers the whole tree.
    expanded = [p for pattern in patterns for p in expand_home(pattern)]
    return re.compile("|".join(f"(?:{fnmatch.translate(p)})" for p in expanded))


class GlobSet:
    """A list of path globs matched as one compiled regular expression."""

    def __init__(self, patterns: Iterable[str]):
        self.patterns = tuple(patterns)
        self._regex = _compiled(self.patterns)

    def matches(self, path: str) -> bool:
        return self._regex is not None and self._regex.match(path) is not None


class TrailingGlobSet:
    """Path globs matched, component by component, against the trailing components
    of a path the probe could not resolve (storage.keys.UNRESOLVED): its directory
    is unknown, so `<unresolved>shadow` or `<unresolved>../../etc/shadow` may be
    /etc/shadow. The components compared are those the path and the glob both
    have, at least one of them not a bare `*` (`<unresolved>x.log` is not
    `~/.ssh/*`); in the path, only what follows its last `..` counts."""

    def __init__(self, patterns: Iterable[str]):
        self.globs = tuple([part for part in p.split("/") if part]
                           for pattern in patterns for p in expand_home(pattern))

    def matches(self, path: str) -> bool:
        known = path.split("/")
        if ".." in known:
            known = known[len(known) - known[::-1].index(".."):]
        known = [part for part in known if part not in ("", ".")]
        if not known:
            return False
        for glob in self.globs:
            shared = min(len(known), len(glob))
            tail = glob[len(glob) - shared:]
            if all(part == "*" for part in tail):
                continue
            if all(fnmatch.fnmatchcase(name, part) for name, part in zip(known[len(known) - shared:], tail)):
                return True
        return False


IpNetwork = Union[ipaddress.IPv4Network, ipaddress.IPv6Network]


@dataclass(frozen=True)
class Destination:
    """One allow-list entry: 'CIDR[:port]', '[v6CIDR][:port]', or 'unix:<glob>'.

    The port may be a number, a range 'low-high', or '*' (the default: any port).
    """

    network: Optional[IpNetwork] = None
    port_low: int = 0
    port_high: int = 65535
    unix_glob: Optional[str] = None

    def matches(self, key: str) -> bool:
        address = parse_address(key)
        if address.family == UNIX:
            return self.unix_glob is not None and fnmatch.fnmatchcase(address.path or UNNAMED, self.unix_glob)
        if self.network is None or address.family not in (INET, INET6):
            return False
        try:
            ip = ipaddress.ip_address(address.host)
        except ValueError:
            return False
        if ip.version != self.network.version or ip not in self.network:
            return False
        if self.port_low == 0 and self.port_high == 65535:
            return True
        return isinstance(address.port, int) and self.port_low <= address.port <= self.port_high


def parse_destination(text: str) -> Destination:
    """Parse one allow-list destination; raises ValueError with a reason."""
    text = text.strip()
    if text.startswith("unix:"):
        return Destination(unix_glob=text[len("unix:"):])
    for prefix in ("inet:", "inet6:"):
        if text.startswith(prefix):
            text = text[len(prefix):]
    if text.startswith("["):
        network_text, _, port_text = text[1:].partition("]")
        port_text = port_text[1:] if port_text.startswith(":") else port_text
    elif text.count(":") == 1:
        network_text, _, port_text = text.partition(":")
    else:
        network_text, port_text = text, ""
    try:
        network = ipaddress.ip_network(network_text, strict=False)
    except ValueError as exc:
        raise ValueError(f"{text!r} is not CIDR:port ({exc}); write e.g. 10.0.0.0/8:5432 or [fd00::/8]:443") from None
    low, high = _parse_ports(port_text, text)
    return Destination(network=network, port_low=low, port_high=high)


def _parse_ports(port_text: str, whole: str) -> tuple[int, int]:
    if port_text in ("", "*"):
        return 0, 65535
    low_text, _, high_text = port_text.partition("-")
    high_text = high_text or low_text
    if not (low_text.isdigit() and high_text.isdigit()):
        raise ValueError(f"{whole!r}: port {port_text!r} must be a number, a range like 8000-8999, or *")
    low, high = int(low_text), int(high_text)
    if not (0 <= low <= high <= 65535):
        raise ValueError(f"{whole!r}: port range {port_text!r} must lie within 0-65535, low before high")
    return low, high


class DestinationSet:
    def __init__(self, entries: Iterable[str]):
        self.entries = tuple(parse_destination(e) for e in entries)

    def matches(self, key: str) -> bool:
        return any(entry.matches(key) for entry in self.entries)


def _glob_tokens(pattern: str) -> list[str]:
    """A glob as fnmatch reads it: '*', '?', a '[...]' class, or one literal character."""
    tokens, index = [], 0
    while index < len(pattern):
        char = pattern[index]
        if char == "[":
            end = pattern.find("]", index + 2 if pattern[index + 1:index + 2] in ("!", "]") else index + 1)
            if end != -1:
                tokens.append(pattern[index:end + 1])
                index = end + 1
                continue
        tokens.append(char)
        index += 1
    return tokens


# The characters a class or '?' is tried with, to decide whether two single-character
# tokens can match one character: path names here are printable.
_PROBE_CHARACTERS = [chr(code) for code in range(32, 0x250)]


def _one_character_overlap(left: str, right: str) -> bool:
    if left == "?" or right == "?":
        return True
    if len(left) == 1 and len(right) == 1:
        return left == right
    return any(fnmatch.fnmatchcase(char, left) and fnmatch.fnmatchcase(char, right) for char in _PROBE_CHARACTERS)


def _tokens_overlap(left: list[str], right: list[str]) -> bool:
    @lru_cache(maxsize=None)
    def overlap(i: int, j: int) -> bool:
        if i == len(left) and j == len(right):
            return True
        if i < len(left) and left[i] == "*":
            return overlap(i + 1, j) or (j < len(right) and overlap(i, j + 1))
        if j < len(right) and right[j] == "*":
            return overlap(i, j + 1) or (i < len(left) and overlap(i + 1, j))
        if i == len(left) or j == len(right):
            return False
        return _one_character_overlap(left[i], right[j]) and overlap(i + 1, j + 1)

    return overlap(0, 0)


def globs_overlap(left: str, right: str) -> bool:
    """Whether some path matches both globs ('~/' read as every home): an exclusion or an
    allow-list entry that overlaps a required sensitive glob would take some secret out."""
    return any(_tokens_overlap(_glob_tokens(a), _glob_tokens(b)) for a in expand_home(left) for b in expand_home(right))


def glob_within(inner: str, outer: str) -> bool:
    """Whether `outer` matches the text of `inner`, its wildcards read as literal characters:
    every path `inner` matches then lies under `outer` (conservatively: a '?' in `outer`
    does not stand for a '*' in `inner`)."""
    return any(fnmatch.fnmatchcase(i, o) and not ("?" in o and "*" in i)
               for i in expand_home(inner) for o in expand_home(outer))


def key_matcher(kind: str, patterns: Iterable[str]) -> Callable[[str], bool]:
    """key -> matched?, for keys of one feature kind, by the pattern syntax of its key shape
    (the feature-kind table): path globs, CIDR:port destinations, or name globs. A file key
    is its path and mode, and a pattern may name either. Allow lists and suppressions match so."""
    feature_kind = BY_NAME[kind]
    patterns = list(patterns)
    if feature_kind.shape is KeyShape.PATH:
        globs = GlobSet(patterns)

        def matches_path(key: str) -> bool:
            parsed = feature_kind.parse(key)
            return (isinstance(parsed, FileKey) and globs.matches(parsed.path)) or globs.matches(key)
        return matches_path
    if feature_kind.shape is KeyShape.ADDRESS:
        return DestinationSet(patterns).matches
    names = tuple(patterns)
    return lambda key: any(fnmatch.fnmatchcase(key, pattern) for pattern in names)
