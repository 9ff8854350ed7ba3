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
from gate_contract.records import ROLES
from host_probe.settings import (
    FILE_HOOK_AUTO, FILE_HOOK_CHOICES, STARTUP_S, STATUS_FILE, WINDOW_S, ProbeSettings, url_password,
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


def rate(text: str) -> int:
    return positive_int(text.removesuffix("/s"))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="host-probe", description="Record a service's syscall profile with eBPF.",
                                     epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    record = commands.add_parser("record", help="record windows of one service into the database",
                                 epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    record.add_argument("--service", required=True, help="service name, e.g. web")
    record.add_argument("--version", required=True, help="the version running, e.g. a git sha or v1.4.2")
    record.add_argument("--role", choices=ROLES, default="baseline", help="baseline (production) or canary")
    scope = record.add_mutually_exclusive_group()
    scope.add_argument("--pid", type=positive_int, help="record this process and every descendant")
    scope.add_argument("--cgroup", metavar="PATH", help="record every process in this cgroup v2 directory")
    record.add_argument("--duration", type=duration, help="stop after this long (default: until stopped)")
    record.add_argument("--window", type=duration, default=WINDOW_S, help=f"window length (default {WINDOW_S:g}s)")
    record.add_argument("--startup", type=duration, default=STARTUP_S, metavar="DURATION",
                        help="windows within this long of the workload's start are marked start-up windows "
                             f"(default {STARTUP_S:g}s)")
    _destination_arguments(record)
    record.add_argument("--sample", type=positive_int, default=1, metavar="N",
                        help="ring-buffer events: keep 1 in N (counts are never sampled)")
    record.add_argument("--rate-limit", type=rate, default=0, metavar="EVENTS/s",
                        help="ring-buffer events per second, in kernel (default unlimited)")
    record.add_argument("--ringbuf-pages", type=positive_int, default=64, metavar="PAGES",
                        help="ring buffer size in pages, a power of two (default 64)")
    record.add_argument("--detail-keys", type=positive_int, default=16384, metavar="N",
                        help="distinct details per window the kernel can count; past it opens, connects... "
                             "are counted as map_full losses (default 16384)")
    record.add_argument("--spool", metavar="DIR", help="where windows wait while the database or server is away")
    record.add_argument("--user", metavar="NAME",
                        help="run `-- CMD` as this user (default: the sudo caller, SUDO_USER; without one, as "
                             "the probe's own user, said on stderr)")
    _file_hook_argument(record)
    record.add_argument("--sensitive-path", action="append", default=[], metavar="GLOB",
                        help="a sensitive file besides the judge's defaults (repeatable): under the fentry file "
                             "hook, an open of the same inode by any name (a hard link, a bind mount) is keyed "
                             "by this path")
    record.add_argument("--retry-unreadable", action="store_true",
                        help="sys_enter file hook: read an open's path again at the syscall's exit when it was not "
                             "readable at entry (a page not yet touched); costs every process on the host a second "
                             "hook per syscall (docs/benchmarks.md), so off by default")
    record.add_argument("-v", "--verbose", action="store_true", help="print process-tree events as they arrive")
    record.add_argument("command_argv", nargs=argparse.REMAINDER, metavar="-- CMD ...",
                        help="launch CMD and follow it; its exit ends the recording")
    agent = commands.add_parser("agent", help="watch every workload of this host, continuously",
                                epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    agent.add_argument("--config", required=True, metavar="FILE", help="the agent's config (YAML): docs/agent.md")
    agent.add_argument("--node-name", default="", metavar="NAME",
                       help="this node, for a kubernetes section that names none (a DaemonSet passes spec.nodeName)")
    _destination_arguments(agent)
    agent.add_argument("--spool", metavar="DIR", help="where windows wait while the database or server is away")
    _file_hook_argument(agent)
    agent.add_argument("-v", "--verbose", action="store_true", help="print process-tree events as they arrive")
    status = commands.add_parser("status", help="what the agent on this host records now")
    status.add_argument("--status-file", metavar="FILE", default=str(STATUS_FILE))
    status.add_argument("--json", action="store_true", help="print the status document as it is")
    commands.add_parser("doctor", help="say whether this host can run the probe, and how to fix it")
    replay = commands.add_parser("replay", help="store spooled windows now that the database or server is back")
    _destination_arguments(replay)
    replay.add_argument("--spool", metavar="DIR")
    return parser


def _file_hook_argument(parser: argparse.ArgumentParser, default: str = FILE_HOOK_AUTO) -> None:
    parser.add_argument("--file-hook", choices=FILE_HOOK_CHOICES, default=default,
                        help="where file opens are keyed: fentry (the opened file's path, resolved in kernel), "
                             "sys_enter (the path as passed, resolved by the probe), or auto: fentry where the "
                             f"kernel allows it (default: {default})")


def _destination_arguments(parser: argparse.ArgumentParser) -> None:
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--db", metavar="URL",
                       help="database URL without a password (default: GATE_DATABASE_URL or the data dir)")
    where.add_argument("--db-file", metavar="PATH",
                       help="read the database URL from this file, mode 0600 (for a URL with a password)")
    where.add_argument("--server", metavar="URL",
                       help="upload to this gate server instead, with the ingest token in GATE_INGEST_TOKEN")


def _database_url(args, settings: ProbeSettings) -> str:
    """--db (never with a password: every user's `ps` shows it), --db-file, or the environment."""
    if args.db:
        if url_password(args.db):
            raise UsageError("--db carries a password, which every user of this host can read (ps): put the URL "
                             "in GATE_DATABASE_URL or in a file of mode 0600 named by --db-file")
        return args.db
    if args.db_file:
        return _read_secret_file(Path(args.db_file))
    return settings.database_url


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


def _settings_paths(args) -> tuple[ProbeSettings, str, Path]:
    settings = ProbeSettings.from_env()
    spool = Path(args.spool) if args.spool else settings.data_dir / "spool"
    return settings, _database_url(args, settings), spool


def _destination(args, settings: ProbeSettings, database_url: str):
    from host_probe.delivery.destinations import Refused, open_destination

    try:
        return open_destination(database_url, args.server or "", settings.ingest_token)
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


def _scope(args, settings: ProbeSettings, database_url: str):
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
        return recorder.CommandScope(argv, env=settings.command_environment(database_url),
                                     run_as=_run_as(args, settings))
    except ScopeError as exc:
        raise UsageError(str(exc)) from None


def _record(args) -> int:
    from host_probe.delivery.destinations import Refused, check_token
    from host_probe.discovery import Identity
    from host_probe.recording.engine import EngineConfig
    from host_probe.errors import ProbeUnavailable
    from host_probe.kernel.loader import _is_power_of_two
    from host_probe.recording.recorder import RecordRequest, Recorder

    if not _is_power_of_two(args.ringbuf_pages):
        raise UsageError(f"--ringbuf-pages must be a power of two, got {args.ringbuf_pages}")
    settings, database_url, spool_dir = _settings_paths(args)
    try:
        check_token(args.server or "", settings.ingest_token)
    except Refused as exc:
        raise UsageError(str(exc)) from None
    scope = _scope(args, settings, database_url)
    request = RecordRequest(
        identity=Identity(args.service, args.version, args.role), duration_s=args.duration,
        engine=EngineConfig(
            database_url=database_url, spool_dir=spool_dir, server_url=args.server or "",
            ingest_token=settings.ingest_token, window_s=args.window, sample_every=args.sample,
            rate_limit=args.rate_limit, ringbuf_pages=args.ringbuf_pages, detail_keys=args.detail_keys,
            startup_s=args.startup, file_hook=args.file_hook, sensitive_paths=tuple(args.sensitive_path),
            retry_unreadable=args.retry_unreadable,
            verbose=args.verbose, store_first=True,
        ),
    )
    try:
        return Recorder(request, scope).run()
    except ProbeUnavailable as exc:
        raise UsageError(str(exc)) from None
    except Refused as exc:
        raise UsageError(f"the recording was refused: {exc}") from None


def _replay(args) -> int:
    from host_probe.delivery.sender import replay_spool_dir

    settings, database_url, spool_dir = _settings_paths(args)
    destination = _destination(args, settings, database_url)
    name = destination.name
    stored, left, in_use = replay_spool_dir(destination, spool_dir,
                                            log=lambda message: print(message, file=sys.stderr, flush=True))
    busy = f"; {in_use} in use by a running probe (it sends them itself)" if in_use else ""
    print(f"replayed {stored} spool files from {spool_dir}; {left} left ({name} did not take them){busy}")
    return 0 if not left else 1


def _agent(args) -> int:
    from host_probe.recording.agent import Agent
    from host_probe.recording.agent_config import ConfigInvalid
    from host_probe.delivery.destinations import Refused, check_token
    from host_probe.recording.engine import EngineConfig
    from host_probe.errors import ProbeUnavailable

    settings, database_url, spool_dir = _settings_paths(args)
    try:
        check_token(args.server or "", settings.ingest_token)
        base = EngineConfig(database_url=database_url, spool_dir=spool_dir, server_url=args.server or "",
                            ingest_token=settings.ingest_token, file_hook=args.file_hook, verbose=args.verbose)
        return Agent(Path(args.config), base, node_name=args.node_name).run()
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
