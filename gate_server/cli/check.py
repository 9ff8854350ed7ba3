"""`gate-server check`: the same check as POST /api/v1/checks, run directly on the database.

Exit codes: 0 pass or warn (proceed), 1 pause (stop the rollout), 2 bad input or an
unusable database, 3 inconclusive (not enough observation yet: wait and run again).
"""

from __future__ import annotations

import json

from gate_server.cli.command_engine import in_transaction
from gate_server.cli.errors import UsageError
from gate_server.settings import Settings
from gate_contract.rollout import Step, rollout_step

EXIT_CODES = {Step.PROCEED: 0, Step.STOP: 1, Step.WAIT: 3}


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "check", help="judge a canary version against a baseline version",
        description="Judge the canary's recorded behaviour against the baseline's and store the check. "
                    "Exit 0 pass/warn, 1 pause, 2 bad input, 3 inconclusive.",
    )
    parser.add_argument("--service", required=True)
    parser.add_argument("--baseline", required=True, metavar="VERSION", help="the version in production")
    parser.add_argument("--canary", required=True, metavar="VERSION", help="the version being rolled out")
    parser.add_argument("--config", metavar="FILE", help="threshold config YAML (e.g. .github/syscall-gate.yml)")
    parser.add_argument("--stage", default="", help="rollout stage label stored with the check")
    parser.add_argument("--json", action="store_true", help="print the verdict document as JSON")
    parser.add_argument("--db", help="database URL (default: $GATE_DATABASE_URL or the embedded SQLite file)")
    parser.set_defaults(func=run)


def run(args) -> int:
    # The judge (scipy) loads only for this command, not for every `gate-server` call.
    from gate_server.analysis.config import ConfigError, GateConfig
    from gate_server.config_file import load_config_file
    from gate_server.services import checks

    settings = Settings.from_env(**({"database_url": args.db} if args.db else {}))
    try:
        config = load_config_file(args.config) if args.config else GateConfig()
    except ConfigError as exc:
        raise UsageError(str(exc)) from None
    request = checks.CheckRequest(service=args.service, baseline_version=args.baseline,
                                  canary_version=args.canary, stage=args.stage, config=config)
    document = in_transaction(settings.database_url, lambda session: checks.run_check(
        session, request, settings, base_url=settings.public_url).to_dict())
    print(json.dumps(document, indent=2) if args.json else report(document))
    return EXIT_CODES[rollout_step(document["verdict"])]


def _side(name: str, observed: dict) -> str:
    file_hooks = (observed.get("hooks") or {}).get("file")
    return (f"  {name:<9} {observed.get('windows', 0)} windows, {observed.get('syscalls', 0):,} syscalls, "
            f"loss {100 * float(observed.get('loss_ratio', 0) or 0):.2f}%"
            + (f", file opens from {' and '.join(file_hooks)}" if file_hooks else ""))


def anomaly_line(anomaly: dict) -> str:
    return (f"  [{anomaly.get('severity', '?')}] {anomaly.get('change', '?')} {anomaly.get('kind')} "
            f"{anomaly.get('key')}: {anomaly.get('reason', '')}")


def anomaly_lines(document: dict) -> list[str]:
    """The anomalies as entries, heaviest first: a group is one (its summary, then its own
    anomalies' keys by kind, then its children), an anomaly no group holds one line."""
    from gate_server.analysis.entries import entries, members_by_kind, walk_groups

    anomalies = document.get("anomalies") or []
    if not anomalies:
        return []
    shown = entries(document)
    lines = [f"anomalies ({len(anomalies)}" + (f", as {len(shown)} entries" if len(shown) != len(anomalies) else "")
             + "):"]
    for what, entry in shown:
        if what == "anomaly":
            lines.append(anomaly_line(entry))
            continue
        for depth, group in walk_groups([entry]):
            indent = "  " + "    " * depth
            lines.append(f"{indent}[{group.get('severity', '?')}] {group.get('summary', group.get('program'))}")
            for label, keys in members_by_kind(group, anomalies).items():
                lines.append(f"{indent}      {label}: {', '.join(keys)}")
    return lines


def report(document: dict) -> str:
    stage = f" (stage {document['stage']})" if document.get("stage") else ""
    lines = [
        f"{document['service']}: {document['baseline_version']} -> {document['canary_version']}{stage}: "
        f"{document['verdict'].upper()} (score {float(document.get('score', 0)):.0f}/100)",
    ]
    observation = document.get("observation") or {}
    for side in ("baseline", "canary"):
        if side in observation:
            lines.append(_side(side, observation[side]))
    lines += anomaly_lines(document)
    for reason in document.get("reasons") or []:
        lines.append(f"  - {reason}")
    url = document.get("url", "")
    lines.append(f"stored as check {document['id']}" + (f": {url}" if url.startswith("http") else ""))
    return "\n".join(lines)
