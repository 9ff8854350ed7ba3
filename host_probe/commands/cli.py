"""`host-probe`: record one service's syscall profile into the gate's database,
or upload it to the gate server (`--server`, with an ingest token).

Exit codes: 0 recorded (or a clean stop on SIGINT/SIGTERM), 1 doctor found a
blocking problem, 2 bad input or a host that cannot run the probe.
"""

from __future__ import annotations

import argparse
import faulthandler
import sys
from pathlib import Path

from gate_contract.durations import seconds
from gate_contract.errors import DatabaseError
from gate_contract.records import BASELINE, ROLES
from host_probe.settings import (
    BATCH_WINDOWS, FILE_HOOK_AUTO, FILE_HOOK_CHOICES, RECORD_DETAIL_KEYS, STARTUP_S, STATUS_FILE, WINDOW_S,
    ProbeSettings, SettingsInvalid, url_password,
)

EPILOG = """examples:
  host-probe doctor                                     can this host record?
  host-probe agent --config /etc/syscall-gate/agent.yml --db "$GATE_DATABASE_URL"
                                                        watch every workload the config and its sources name
  host-probe status                                     what the agent on this host records now
  host-probe record --service web --version v1 --pid 4242
                                                        pid 4242 and its descendants, until it exits
  host-probe record --service web --version v2 --role canary --duration 10m -- ./server --port 8080
                                                        launch the command and follow it
  host-probe record --service web --version v2 --role canary --cgroup /sys/fs/cgroup/unified/web.slice
                                                        everything in a cgroup v2 directory (containers)
  host-probe record ... --sample 10 --rate-limit 1000   ring buffer: 1 event in 10, at most 1000/s
  host-probe record ... --file-hook sys_enter           key file opens at sys_enter even where fentry is allowed
  GATE_INGEST_TOKEN=sg_... host-probe record ... --server https://gate.example.com
                                                        upload windows to the gate server, no database access
  host-probe replay                                     store windows spooled while the database was away
"""



class UsageError(Exception):
    """Bad input: printed as one line, exit code 2."""


def duration(text: str) -> float:
    try:
        return seconds(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="host-probe", description="Record a service's syscall profile with eBPF.",
                                     epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    record = commands.add_parser("record", help="record windows of one service into the database",
                                 epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    record.add_argument("--service", required=True, help="service name, e.g. web")
    record.add_argument("--version", required=True, help="the version running, e.g. a git sha or v1.4.2")
    record.add_argument("--role", choices=ROLES, default=BASELINE, help="baseline (production) or canary")
    scope = record.add_mutually_exclusive_group()
    scope.add_argument("--pid", type=positive_int, help="record this process and every descendant")
    scope.add_argument("--cgroup", metavar="PATH", help="record every process in this cgroup v2 directory")
    record.add_argument("--duration", type=duration, help="stop after this long (default: until stopped)")
    _settings_arguments(record)
    record.add_argument("--user", metavar="NAME",
                        help="run `-- CMD` as this user (default: the sudo caller, SUDO_USER; without one, as "
                             "the probe's own user, said on stderr)")
    record.add_argument("command_argv", nargs=argparse.REMAINDER, metavar="-- CMD ...",
                        help="launch CMD and follow it; its exit ends the recording")
    agent = commands.add_parser("agent", help="watch every workload of this host, continuously",
                                epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    agent.add_argument("--config", required=True, metavar="FILE", help="the agent's config (YAML): docs/agent.md")
    agent.add_argument("--node-name", default="", metavar="NAME",
                       help="this node, for a kubernetes section that names none (a DaemonSet passes spec.nodeName)")
    _settings_arguments(agent, config_file=True)
    status = commands.add_parser("status", help="what the agent on this host records now")
    status.add_argument("--status-file", metavar="FILE", default=str(STATUS_FILE))
    status.add_argument("--json", action="store_true", help="print the status document as it is")
    commands.add_parser("doctor", help="say whether this host can run the probe, and how to fix it")
    replay = commands.add_parser("replay", help="store spooled windows now that the database or server is back")
    _destination_arguments(replay)
    replay.add_argument("--spool", metavar="DIR", help="the spool to send (HOST_PROBE_SPOOL; default: the data dir's)")
    replay.add_argument("--batch-windows", metavar="N", help=f"spooled windows sent in one request (default {BATCH_WINDOWS})")
    return parser


# Options of `record` and `agent`, each a field of ProbeSettings (host_probe/settings.py) of the
# same name, also set by HOST_PROBE_<FIELD>. Parsed as text: the settings model validates
# flags and variables alike. The agent's config file may set window, startup, detail_keys and
# spool_dir; a flag or variable wins over it.
def _settings_arguments(parser: argparse.ArgumentParser, config_file: bool = False) -> None:
    default = "the config file's, else " if config_file else ""
    _destination_arguments(parser)
    parser.add_argument("--spool", metavar="DIR", help="where windows wait while the database or server is away "
                                                       "(HOST_PROBE_SPOOL; default: the data dir's spool/)")
    parser.add_argument("--window", metavar="DURATION", help=f"window length (default {default}{WINDOW_S:g}s)")
    parser.add_argument("--startup", metavar="DURATION",
                        help="windows within this long of the workload's start are marked start-up windows "
                             f"(default {default}{STARTUP_S:g}s)")
    parser.add_argument("--sample", metavar="N", help="ring-buffer events: keep 1 in N (counts are never sampled)")
    parser.add_argument("--rate-limit", metavar="EVENTS/s",
                        help="ring-buffer events per second, in kernel (default unlimited)")
    parser.add_argument("--ringbuf-pages", metavar="PAGES", help="ring buffer size in pages, a power of two (default 64)")
    parser.add_argument("--detail-keys", metavar="N",
                        help="distinct details per window the kernel can count; past it opens, connects... are "
                             f"counted as map_full losses (default {default}{RECORD_DETAIL_KEYS})")
    parser.add_argument("--batch-windows", metavar="N",
                        help=f"spooled windows sent in one request (default {BATCH_WINDOWS})")
    parser.add_argument("--file-hook", metavar="{" + ",".join(FILE_HOOK_CHOICES) + "}",
                        help="where file opens are keyed: fentry (the opened file's path, resolved in kernel), "
                             "sys_enter (the path as passed, resolved by the probe), or auto: fentry where the "
                             f"kernel allows it (default: {FILE_HOOK_AUTO})")
    parser.add_argument("--sensitive-path", action="append", dest="sensitive_paths", metavar="GLOB",
                        help="a sensitive file besides the judge's defaults (repeatable; HOST_PROBE_SENSITIVE_PATHS "
                             "comma-separated): under the fentry file hook, an open of the same inode by any name "
                             "(a hard link, a bind mount) is keyed by this path")
    parser.add_argument("--retry-unreadable", action="store_true", default=None,
                        help="sys_enter file hook: read an open's path again at the syscall's exit when it was not "
                             "readable at entry (a page not yet touched); costs every process on the host a second "
                             "hook per syscall (docs/benchmarks.md), so off by default")
    parser.add_argument("-v", "--verbose", action="store_true", default=None,
                        help="print process-tree events as they arrive")


def _destination_arguments(parser: argparse.ArgumentParser) -> None:
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--db", metavar="URL",
                       help="database URL without a password (default: GATE_DATABASE_URL or the data dir)")
    where.add_argument("--db-file", metavar="PATH",
                       help="read the database URL from this file, mode 0600 (for a URL with a password)")
    where.add_argument("--server", metavar="URL",
                       help="upload to this gate server instead, with the ingest token in GATE_INGEST_TOKEN")


def _read_secret_file(path: Path) -> str:
    try:
        mode = path.stat().st_mode
        if mode & 0o077:
            raise UsageError(f"--db-file {path}: mode {mode & 0o777:04o} lets other users read it; "
                             f"chmod 600 {path}")
        url = path.read_text().strip()
    except OSError as exc:
        raise UsageError(f"--db-file {path}: {exc.strerror}") from None
    if not url:
        raise UsageError(f"--db-file {path} is empty: write the database URL in it")
    return url


SETTINGS_FLAGS = ("spool", "window", "startup", "sample", "rate_limit", "ringbuf_pages", "detail_keys",
                  "batch_windows", "file_hook", "sensitive_paths", "retry_unreadable", "verbose", "server")


def settings_of(args) -> ProbeSettings:
    """The command's settings: its flags over the environment. --db never carries a
    password (every user's `ps` shows it); --db-file holds one, in a file of mode 0600."""
    flags = {name: getattr(args, name, None) for name in SETTINGS_FLAGS}
    names = {}
    if args.db:
        if url_password(args.db):
            raise UsageError("--db carries a password, which every user of this host can read (ps): put the URL "
                             "in GATE_DATABASE_URL or in a file of mode 0600 named by --db-file")
        flags["database_url"], names["database_url"] = args.db, "--db"
    elif args.db_file:
        flags["database_url"], names["database_url"] = _read_secret_file(Path(args.db_file)), "--db-file"
    try:
        return ProbeSettings.load(flags, names)
    except SettingsInvalid as exc:
        raise UsageError(str(exc)) from None


def _destination(settings: ProbeSettings):
    from host_probe.delivery.destinations import Refused, open_destination

    try:
        return open_destination(settings.database_url, settings.server, settings.ingest_token)
    except Refused as exc:
        raise UsageError(str(exc)) from None


def _run_as(args, settings: ProbeSettings):
    """Who `-- CMD` runs as: --user, else the sudo caller; None (the probe's own user) without either."""
    import os

    from host_probe.recording.recorder import RunAs

    name = args.user or settings.sudo_user
    if not name:
        return None  # CommandScope says so once CMD starts
    if os.geteuid() != 0:
        raise UsageError(f"--user {name}: only root can run a command as another user")
    return RunAs.named(name)


def _scope(args, settings: ProbeSettings):
    from host_probe.recording import recorder
    from host_probe.errors import ScopeError

    argv = args.command_argv[1:] if args.command_argv[:1] == ["--"] else args.command_argv
    chosen = sum(bool(x) for x in (args.pid, args.cgroup, argv))
    if chosen != 1:
        raise UsageError("choose exactly one scope: --pid P, --cgroup PATH, or -- CMD ...")
    try:
        if args.pid:
            return recorder.PidScope(args.pid)
        if args.cgroup:
            return recorder.CgroupScope(args.cgroup)
        return recorder.CommandScope(argv, env=settings.command_environment(settings.database_url),
                                     run_as=_run_as(args, settings))
    except ScopeError as exc:
        raise UsageError(str(exc)) from None


def engine_config_of(settings: ProbeSettings, **options):
    from host_probe.recording.engine import EngineConfig

    return EngineConfig(
        database_url=settings.database_url, spool_dir=settings.spool_dir, server_url=settings.server,
        ingest_token=settings.ingest_token, window_s=settings.window, sample_every=settings.sample,
        rate_limit=settings.rate_limit, ringbuf_pages=settings.ringbuf_pages, detail_keys=settings.detail_keys,
        startup_s=settings.startup, file_hook=settings.file_hook, sensitive_paths=settings.sensitive_paths,
        retry_unreadable=settings.retry_unreadable, verbose=settings.verbose,
        batch_windows=settings.batch_windows, **options)


def _record(args) -> int:
    from host_probe.delivery.destinations import Refused, check_token
    from host_probe.discovery import Identity
    from host_probe.errors import ProbeUnavailable
    from host_probe.recording.recorder import RecordRequest, Recorder

    settings = settings_of(args)
    try:
        check_token(settings.server, settings.ingest_token)
    except Refused as exc:
        raise UsageError(str(exc)) from None
    scope = _scope(args, settings)
    request = RecordRequest(identity=Identity(args.service, args.version, args.role), duration_s=args.duration,
                            engine=engine_config_of(settings, store_first=True))
    try:
        return Recorder(request, scope).run()
    except ProbeUnavailable as exc:
        raise UsageError(str(exc)) from None
    except Refused as exc:
        raise UsageError(f"the recording was refused: {exc}") from None


def _replay(args) -> int:
    from host_probe.delivery.sender import replay_spool_dir

    settings = settings_of(args)
    destination = _destination(settings)
    name = destination.name
    stored, left, in_use = replay_spool_dir(destination, settings.spool_dir, settings.batch_windows,
                                            log=lambda message: print(message, file=sys.stderr, flush=True))
    busy = f"; {in_use} in use by a running probe (it sends them itself)" if in_use else ""
    print(f"replayed {stored} spool files from {settings.spool_dir}; {left} left ({name} did not take them){busy}")
    return 0 if not left else 1


def agent_overrides(settings: ProbeSettings) -> dict:
    """What a flag or variable sets wins over the agent's config file (same names; the
    file's spool_dir is the settings' spool)."""
    overrides = settings.explicit("window", "startup", "detail_keys")
    if "spool" in settings.origins:
        overrides["spool_dir"] = settings.spool_dir
    return overrides


def _agent(args) -> int:
    from host_probe.delivery.destinations import Refused, check_token
    from host_probe.errors import ProbeUnavailable
    from host_probe.recording.agent import Agent
    from host_probe.recording.agent_config import ConfigInvalid

    settings = settings_of(args)
    try:
        check_token(settings.server, settings.ingest_token)
        return Agent(Path(args.config), engine_config_of(settings), node_name=args.node_name,
                     overrides=agent_overrides(settings)).run()
    except (ConfigInvalid, ProbeUnavailable, Refused) as exc:
        raise UsageError(str(exc)) from None


def _status(args) -> int:
    from host_probe.commands.status import show_status

    return show_status(Path(args.status_file), as_json=args.json, out=sys.stdout)


def main(argv: list[str] | None = None) -> int:
    # A crash in native code (bcc, libbpf, a C extension) prints every thread's
    # Python stack to stderr instead of dying silently: a daemon must say where.
    faulthandler.enable()
    args = build_parser().parse_args(argv)
    try:
        if args.command == "doctor":
            from host_probe.commands.doctor import report, run_checks

            return report(run_checks(), sys.stdout)
        if args.command == "replay":
            return _replay(args)
        if args.command == "agent":
            return _agent(args)
        if args.command == "status":
            return _status(args)
        return _record(args)
    except (UsageError, DatabaseError) as exc:
        print(f"host-probe: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
