"""Normalisation: keep per-run noise out of feature keys before anything is stored.

One table of rules, applied in order to the path-like part of a key. A rule that
is too eager hides a real change (a new file); one too timid turns every run into
"new" features. Each rule names an example it exists for; tests/probe/
test_normalise.py holds both sides.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from gate_contract.keys import EPHEMERAL, HEX, INET, INET6, NUMBER, PID, TEMP, UNIX, Address
# Linux's default net.ipv4.ip_local_port_range; the recorder passes the host's own.
DEFAULT_EPHEMERAL_PORTS = (32768, 60999)


@dataclass(frozen=True)
class Rule:
    name: str
    example: str
    pattern: re.Pattern
    replacement: str


def _random_token(match: re.Match) -> str:
    """Replace a token only if it looks machine-made: letters and digits that
    alternate at least three times (x91k2, a8f3k2) -- "python3", "sha256sum",
    "x86_64" and "ubuntu2204" stay."""
    token = match.group(0)
    transitions = sum(1 for a, b in zip(token, token[1:]) if a.isdigit() != b.isdigit())
    return TEMP if transitions >= 3 else token


# Applied in order. Boundaries are "not a letter or digit", so the rules work on
# path segments and on the words inside a file name alike.
RULES: tuple[Rule, ...] = (
    Rule("pid in /proc", "/proc/4242/status -> /proc/<pid>/status",
         re.compile(r"(?<=/proc/)\d+(?=/|$)"), PID),
    Rule("python tempfile name", "/tmp/tmpa8f3k2_q -> /tmp/<tmp>",
         re.compile(r"(?<![A-Za-z0-9])tmp[a-z0-9_]{8}(?![A-Za-z0-9])"), TEMP),
    Rule("mktemp name", "/tmp/tmp.Xa81kQz0pL -> /tmp/<tmp>",
         re.compile(r"(?<![A-Za-z0-9])tmp\.[A-Za-z0-9]{10}(?![A-Za-z0-9])"), TEMP),
    Rule("uuid", "/run/app/3f2b8c1e-9d4a-4e2b-8f6a-0c1d2e3f4a5b.lock -> /run/app/<hex>.lock",
         re.compile(r"(?<![A-Za-z0-9])[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
                    r"(?![A-Za-z0-9])"), HEX),
    Rule("hex hash", "/cache/9f86d081884c7d65.bin -> /cache/<hex>.bin",
         re.compile(r"(?<![A-Za-z0-9])(?=[0-9a-f]*\d)(?=[0-9a-f]*[a-f])[0-9a-f]{12,}(?![A-Za-z0-9])"), HEX),
    Rule("random token", "/tmp/req-x91k2.tmp -> /tmp/req-<tmp>.tmp",
         re.compile(r"(?<![A-Za-z0-9])[A-Za-z0-9]{5,}(?![A-Za-z0-9])"), ""),
    Rule("numeric id", "/var/log/app/1234.log -> /var/log/app/<n>.log; /dev/pts/3 -> /dev/pts/<n>",
         re.compile(r"(?<=/)\d+(?=[./]|$)|(?<![A-Za-z0-9.])\d{4,}(?![A-Za-z0-9])"), NUMBER),
)


# Python's tempfile names are prefix + 8 chars of [a-z0-9_] + suffix; with a prefix
# such as "req-" they escape the rules above (req-1rotthsg.tmp has one letter/digit
# transition). Only file names in a temp directory, or ending in .tmp, are read
# this way, so that a real 8-letter name elsewhere (/var/log/requests.log) stays.
TEMP_DIRS = re.compile(r"^(/tmp|/var/tmp|/dev/shm|/run/user/\d+|.*/tmp)(/|$)")
PREFIXED_TEMP_NAME = re.compile(r"^(?P<prefix>.*[-.])(?P<random>[a-z0-9_]{8})(?P<suffix>\.[A-Za-z0-9]{1,8})?$")


def _prefixed_temp_name(path: str) -> str:
    directory, slash, name = path.rpartition("/")
    in_temp_dir = bool(TEMP_DIRS.match(directory + "/"))
    if not (in_temp_dir or name.endswith(".tmp")):
        return path
    match = PREFIXED_TEMP_NAME.match(name)
    # All letters outside a temp dir is as likely a word as a random name: kept.
    if not match or not (in_temp_dir or re.search(r"[0-9_]", match["random"])):
        return path
    return f"{directory}{slash}{match['prefix']}{TEMP}{match['suffix'] or ''}"


def normalise_path(path: str) -> str:
    path = _prefixed_temp_name(path)
    for rule in RULES:
        replacement = _random_token if rule.name == "random token" else rule.replacement
        path = rule.pattern.sub(replacement, path)
    return path


def normalise_port(port: int, ephemeral_ports: tuple[int, int] = DEFAULT_EPHEMERAL_PORTS,
                   asked: bool = False) -> int | str:
    """A local port the kernel picked (0, or the ephemeral range) differs every run.
    A port the workload `asked` for is its own, even inside the ephemeral range (a
    listener on 40000 is a listener): only a requested 0 is the kernel's choice."""
    if asked:
        return EPHEMERAL if port == 0 else port
    low, high = ephemeral_ports
    return EPHEMERAL if port == 0 or low <= port <= high else port


def normalise_address(kind: str, address: Address,
                      ephemeral_ports: tuple[int, int] = DEFAULT_EPHEMERAL_PORTS, port_asked: bool = False) -> Address:
    """A unix path is normalised as a path; a local port the kernel picked becomes
    <ephemeral>. A connect's destination port names the service it talks to: kept."""
    if address.family == UNIX:
        return replace(address, path=normalise_path(address.path)) if address.path else address
    if address.family in (INET, INET6) and kind != "connect" and isinstance(address.port, int):
        return replace(address, port=normalise_port(address.port, ephemeral_ports, port_asked))
    return address
