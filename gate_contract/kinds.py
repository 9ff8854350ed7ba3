"""Feature kinds as one table: what each kind's key looks like, which hook produces
it, and what the judge makes of a new or missing one by default.

Everything else derives from this table or is checked against it by a test: the
key-kind names (`KINDS`, `Kind`), the threshold config's weights, limits and rule
names and allow lists (gate_server/analysis/config.py and config_schema.json), the
judge's rules and what an allow list or a suppression matches, by key shape
(gate_server/analysis/rules.py, patterns.key_matcher, suppressions.py), what start-up
judges as held while serving (startup.py), the points a finding of each severity
costs (scoring.py), the hooks each window records
(host_probe/kernel/file_hook.py) and docs/config.md's table of new-feature rules.
Adding a kind is one entry here plus the kernel hook that counts it (bpf/).
The severity levels, lowest first, are here too: one place for them.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Literal, Optional

from gate_contract.keys import parse_address, parse_file_key

SEVERITIES = ("low", "medium", "high", "critical")
Severity = Literal[SEVERITIES]
# What one finding of each severity takes off its score group (of 1.0), lowest first.
SEVERITY_POINTS: dict[str, float] = dict(zip(SEVERITIES, (0.1, 0.25, 0.5, 1.0)))


class KeyShape(str, Enum):
    PATH = "path"        # an absolute path (file, program): globs match it
    ADDRESS = "address"  # inet:host:port, inet6:[host]:port, unix:path: CIDR:port patterns match it
    NAME = "name"        # a name counted as such (a syscall, a socket type, a process event)


@dataclass(frozen=True)
class Rule:
    """How the judge weighs a new feature of a kind (the anomaly's `rule`)."""

    name: str
    severity: str
    # what docs/config.md's table calls the feature this rule covers
    feature: str
    # a field of the config's `limits` and its default (None: no limit by default)
    limit: Optional[str] = None
    limit_default: Optional[int] = None
    limit_description: str = ""
    # the score group; None: the kind's own
    group: Optional[str] = None
    # what an attacker or a broken build does once and never again: one occurrence is news
    one_off: bool = False


@dataclass(frozen=True)
class FeatureKind:
    name: str
    shape: KeyShape
    key_format: str  # as docs/config.md shows it (markdown)
    example: str
    # the kernel hook that counts it whatever the file hook (None: chosen by the file hook,
    # host_probe/kernel/file_hook.py)
    hook: Optional[str]
    weight: float
    # the first rule is the kind's default; the judge picks another where it knows why (rules.py)
    rules: tuple[Rule, ...]
    # how a reason sentence names a new feature of this kind
    what: str
    missing_severity: str = "low"
    # score groups of their own inside the kind, with their weights (a sensitive file)
    subgroups: tuple[tuple[str, float], ...] = ()
    # a change in every canary window is at least a warn (process events follow load instead)
    persistence_warns: bool = True
    # the field of the config's `allow` that lists its keys never to count as news, and that
    # field's description (None: no allow list; kinds of one shape may share a field)
    allow_list: Optional[str] = None
    allow_description: str = ""
    # what an inventory of running processes shows whenever the baseline does it (an open
    # listening or bound address), so start-up judges it as new (analysis/startup.py)
    held_while_serving: bool = False

    def parse(self, key: str):
        """The key's structure: a FileKey, an Address, or the name itself."""
        if self.name == "file":
            return parse_file_key(key)
        if self.shape is KeyShape.ADDRESS:
            return parse_address(key)
        return key


# A capability that reaches past the keys the probe makes at sys_enter, or into another
# process (the judge's RISKY_SYSCALLS and RISKY_SOCKET_FAMILIES, gate_server/analysis/rules.py).
_RISKY = Rule("new_risky_capability", "high",
              "a high-risk capability: syscall `io_uring_setup`, `open_by_handle_at`, `name_to_handle_at`, "
              "`memfd_create`, `ptrace`, `process_vm_readv`, `process_vm_writev`; a `packet/*` socket",
              "max_new_risky_capabilities", 0,
              "new high-risk capabilities: io_uring, file handles, memfd, ptrace, packet sockets", one_off=True)
_LISTENER = Rule("new_listener", "high", "listen / bind address, not an ephemeral port", "max_new_listeners", 0,
                 "new listening/bound addresses", one_off=True)
_EPHEMERAL_BIND = Rule("new_ephemeral_bind", "low", "bind to an ephemeral port (`<ephemeral>`, `0`)")
_LISTENERS = "CIDR:port for listen/bind addresses"

FEATURE_KINDS: tuple[FeatureKind, ...] = (
    FeatureKind("syscall", KeyShape.NAME, "syscall name", "openat", "sys_enter", 3.0,
                (Rule("new_syscall", "medium", "syscall name", "max_new_syscalls", None, "new syscall names"), _RISKY),
                "syscall {key}", allow_list="syscalls", allow_description="syscall names"),
    FeatureKind("file", KeyShape.PATH, "`<path>:<mode>`", "/etc/app.conf:r", None, 2.0,
                (Rule("new_file", "low", "other new file (a read, or a write in a known directory)", "max_new_files",
                      None, "new file paths of any mode (not sensitive)"),
                 Rule("sensitive_access", "critical", "file access to a sensitive path (any mode)",
                      "max_sensitive_access", 0, "new accesses to sensitive paths", group="sensitive", one_off=True),
                 Rule("new_write_path", "high", "file write outside known directories", "max_new_write_paths", 0,
                      "new writes outside known directories", one_off=True)),
                "{verb} of {key}", subgroups=(("sensitive", 4.0),), allow_list="files",
                allow_description="path globs ('*' crosses '/')"),
    FeatureKind("exec", KeyShape.PATH, "program path", "/bin/sh", "tracepoint:sched_process_exec", 4.0,
                (Rule("new_exec", "high", "exec of a program", "max_new_execs", 0, "new programs executed",
                      one_off=True),),
                "exec {key}", allow_list="execs", allow_description="program path globs"),
    # connect, sendto/sendmsg/sendmmsg at sys_enter; TCP at SYN_SENT
    FeatureKind("connect", KeyShape.ADDRESS, "`<address>`", "inet:10.0.0.5:5432",
                "sys_enter+tracepoint:inet_sock_set_state", 3.0,
                (Rule("new_destination", "high", "outbound connect (`inet:`, `inet6:`, `unix:`)",
                      "max_new_destinations", 0, "new outbound connect destinations", one_off=True),
                 # local IPC (the judge's local_ipc config picks these by the socket's path)
                 Rule("new_control_socket", "critical",
                      "connect to a container runtime or orchestrator socket (`local_ipc.control_sockets`)",
                      "max_new_destinations", 0, "new outbound connect destinations", one_off=True),
                 Rule("new_system_ipc", "low",
                      "connect to a system daemon's socket (`local_ipc.system_daemons`: nscd, journald, "
                      "syslog, D-Bus; its severity: `local_ipc.system_daemon_severity`)")),
                "outbound connect to {key}", allow_list="destinations",
                allow_description="CIDR:port, [v6CIDR]:port, unix:<glob>"),
    FeatureKind("listen", KeyShape.ADDRESS, "`<address>`", "inet:0.0.0.0:8080",
                "tracepoint:inet_sock_set_state+sys_enter", 3.0, (_LISTENER, _EPHEMERAL_BIND), "listen on {key}",
                missing_severity="medium", allow_list="listeners", allow_description=_LISTENERS,
                held_while_serving=True),
    FeatureKind("bind", KeyShape.ADDRESS, "`<address>`", "inet:0.0.0.0:<ephemeral>", "sys_enter", 2.0,
                (_LISTENER, _EPHEMERAL_BIND), "bind on {key}", missing_severity="medium", allow_list="listeners",
                allow_description=_LISTENERS, held_while_serving=True),
    FeatureKind("socket", KeyShape.NAME, "`<family>/<type>`", "inet/stream", "sys_enter", 1.0,
                (Rule("new_socket_type", "medium", "socket family/type"), _RISKY), "socket type {key}"),
    FeatureKind("process", KeyShape.NAME, "`fork`, `thread`, `exit` or `exec`", "fork",
                "tracepoint:task_newtask+sched_process_fork+sched_process_exec+sched_process_exit", 0.5,
                (Rule("new_process_event", "low", "process event (`fork`, `thread`, `exit`, `exec`)"),),
                "process event {key}", persistence_warns=False),
)

BY_NAME: dict[str, FeatureKind] = {kind.name: kind for kind in FEATURE_KINDS}
KINDS: tuple[str, ...] = tuple(BY_NAME)
Kind = Literal[KINDS]
ADDRESS_KINDS = tuple(kind.name for kind in FEATURE_KINDS if kind.shape is KeyShape.ADDRESS)
PATH_KINDS = tuple(kind.name for kind in FEATURE_KINDS if kind.shape is KeyShape.PATH)
HELD_WHILE_SERVING = tuple(kind.name for kind in FEATURE_KINDS if kind.held_while_serving)


def _unique(items):
    return tuple(dict.fromkeys(items))


# Every rule once, the most severe first (then in the table's order), and the score groups
# with their default weights.
RULES: dict[str, Rule] = {rule.name: rule for rule in sorted(
    _unique(rule for kind in FEATURE_KINDS for rule in kind.rules), key=lambda rule: -SEVERITIES.index(rule.severity))}
RULE_NAMES: tuple[str, ...] = tuple(RULES)
WEIGHTS: dict[str, float] = {group: weight for kind in FEATURE_KINDS
                             for group, weight in ((kind.name, kind.weight),) + kind.subgroups}
GROUPS: tuple[str, ...] = tuple(WEIGHTS)
ONE_OFF_RULES: tuple[str, ...] = tuple(name for name, rule in RULES.items() if rule.one_off)
LIMITS: dict[str, Rule] = {rule.limit: rule for rule in RULES.values() if rule.limit}


@dataclass(frozen=True)
class AllowList:
    """One field of the config's `allow`: the shape of the keys it matches and what it says."""

    shape: KeyShape
    description: str
    kinds: tuple[str, ...]


def _allow_lists() -> dict[str, AllowList]:
    lists: dict[str, AllowList] = {}
    for kind in FEATURE_KINDS:
        if kind.allow_list is None:
            continue
        shared = lists.get(kind.allow_list)
        if shared is not None and (shared.shape, shared.description) != (kind.shape, kind.allow_description):
            raise ValueError(f"kind {kind.name!r} shares allow list {kind.allow_list!r} with "
                             f"{shared.kinds[0]!r} but not its shape and description")
        lists[kind.allow_list] = AllowList(kind.shape, kind.allow_description,
                                           (shared.kinds if shared else ()) + (kind.name,))
    return lists


# The config's allow lists, in the table's order: each matches the keys of its kinds.
ALLOW_LISTS: dict[str, AllowList] = _allow_lists()


def rule_groups(rule: Rule) -> tuple[str, ...]:
    """The score groups a rule counts in: its own, or the kinds' that use it."""
    if rule.group:
        return (rule.group,)
    return _unique(kind.name for kind in FEATURE_KINDS if rule in kind.rules)


def rules_of_group(group: str) -> tuple[str, ...]:
    return tuple(name for name, rule in RULES.items() if group in rule_groups(rule))


def kinds_table() -> str:
    """docs/config.md's table of feature kinds (tests/analysis/test_kinds.py keeps the docs equal to it)."""
    rows = ["| kind | key | example | shape | counted at | weight | missing |",
            "| --- | --- | --- | --- | --- | --- | --- |"]
    for kind in FEATURE_KINDS:
        groups = ", ".join(f"`{group}` {weight:g}" for group, weight in ((kind.name, kind.weight),) + kind.subgroups)
        hook = f"`{kind.hook}`" if kind.hook else "the file hook (`fentry` or `sys_enter`, docs/probe.md)"
        rows.append(f"| `{kind.name}` | {kind.key_format} | `{kind.example}` | {kind.shape.value} | {hook} | {groups} "
                    f"| {kind.missing_severity} |")
    return "\n".join(rows) + "\n"


def rules_table() -> str:
    """docs/config.md's table of new-feature rules (tests/analysis/test_kinds.py keeps the docs equal to it)."""
    rows = ["| feature | rule | group | severity | limit |", "| --- | --- | --- | --- | --- |"]
    for name, rule in RULES.items():
        groups = " / ".join(f"`{group}`" for group in rule_groups(rule))
        limit = f"`limits.{rule.limit}`" if rule.limit else "—"
        rows.append(f"| {rule.feature} | `{name}` | {groups} | {rule.severity} | {limit} |")
    return "\n".join(rows) + "\n"
