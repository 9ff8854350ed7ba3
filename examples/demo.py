"""`make demo`: syscall-gate's main job, end to end, on the embedded database.

1. a gate server under gunicorn on SQLite in a temporary data dir;
2. demo-shop (examples/sample_service.py) v1 twice as the baseline, recorded by attaching the
   real eBPF probe to instances already serving (as production's baseline is), and a healthy
   v2 and a misbehaving v2 as canaries started fresh under the probe, with generated load;
3. each canary gated by the GitHub Action's client, run as a workflow runs it;
4. each verdict, its anomalies and its dashboard link printed;
5. the paused canary approved by a person on call, with a reason, and the decision read
   back from the check. Exit 0 only when the healthy canary passes, the misbehaving one
   is paused and the approval is stored on its check.

    python -m examples.demo [--keep-serving] [--seconds N] [--window N]
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import tempfile
from pathlib import Path

from examples.gating import ActionClient
from gate_contract.rollout import decided_by
from examples.github_standin import GitHubStandIn
from examples.narrative import Narrative, verdict_lines
from examples.preflight import check_host
from examples.processes import DemoError, ProcessGroup
from examples.recording import Instance, RecordingPlan, record
from examples.sample_service import prepare_state_dir
from examples.stack import GateServer, http_json

SERVICE = "demo-shop"
BASELINE_VERSION = "v1"
# canary version -> (what it is, the verdict the gate must give)
CANARIES = {"v2": ("healthy canary", "pass"), "v2-bad": ("misbehaving canary", "pause")}
VERSION_STORY = {
    "v1": "in production (baseline, 2 instances): catalogue API, config + catalogue reads, cache and log writes",
    "v2": "healthy release: new JSON envelope and log format, same kernel-level behaviour",
    "v2-bad": "v2 plus a debug helper that reads /etc/shadow and runs /bin/sh on every 2nd /report",
}
INSTANCES = (  # the baseline has been serving when its recording starts; the canaries start fresh
    Instance("baseline-1", BASELINE_VERSION, "baseline", attach=True),
    Instance("baseline-2", BASELINE_VERSION, "baseline", attach=True),
    Instance("canary-v2", "v2", "canary"),
    Instance("canary-v2-bad", "v2-bad", "canary"),
)
REPO_ROOT = Path(__file__).resolve().parent.parent
GATE_CONFIG = Path(__file__).resolve().parent / "demo-gate.yml"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m examples.demo", description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=int, default=60, help="recording length (default 60)")
    parser.add_argument("--window", type=int, default=5, help="probe window in seconds (default 5)")
    parser.add_argument("--rate", type=float, default=60.0, help="load, requests per second (default 60)")
    parser.add_argument("--keep-serving", action="store_true",
                        help="leave the gate server running after the demo, until Ctrl-C")
    parser.add_argument("--work-dir", type=Path, help="use this directory instead of a new temporary one")
    return parser.parse_args(argv)


def child_environment(data_dir: Path, database_url: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(GATE_DATA_DIR=str(data_dir), GATE_DATABASE_URL=database_url, PYTHONUNBUFFERED="1",
               PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    return env


def write_private(path: Path, text: str) -> None:
    """A secret: readable by its owner only, from the first byte."""
    with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as handle:
        handle.write(text)


def raise_keyboard_interrupt(signum, frame):
    raise KeyboardInterrupt


APPROVAL_REASON = "on-call read the anomalies: the debug helper ships behind a flag this release (demo)"


def gate_canaries(narrative: Narrative, github_dir: Path, gate_url: str, token: str) -> tuple[list[str], dict]:
    """(failures, the documents of the checks by canary version)."""
    failures, documents = [], {}
    with GitHubStandIn() as github:
        narrative.step(f"GitHub API stand-in for commit statuses at {github.url}")
        client = ActionClient(github_dir, gate_url, token, SERVICE, GATE_CONFIG, github)
        for version, (label, expected) in CANARIES.items():
            outcome = client.gate(BASELINE_VERSION, version, stage=f"canary-{version}")
            documents[version] = outcome.document
            narrative.done(f"{label} {version}: gate step {outcome.step_result()}")
            for line in verdict_lines(f"{label} {version}", outcome.document, expected):
                narrative.say("    " + line)
            if outcome.document.get("verdict") != expected:
                failures.append(f"{label} {version}: expected {expected}, "
                                f"got {outcome.document.get('verdict')}")
    narrative.step(f"job summaries and action logs: {github_dir}")
    return failures, documents


def approve_paused(narrative: Narrative, server: GateServer, paused: dict) -> list[str]:
    """On call approves the paused check with a reason; the check then carries the decision."""
    if paused.get("verdict") != "pause" or not paused.get("id"):
        return ["no paused check to approve"]
    decide_token = server.create_token(SERVICE, description="alice (on-call, demo)", scope="decide")
    narrative.step(f"gate-server tokens create --service {SERVICE} --scope decide --description "
                   "\"alice (on-call, demo)\": token minted")
    narrative.step(f"POST /api/v1/checks/{paused['id']}/decision (what the check page's Approve button sends)")
    made = server.decide(paused["id"], decide_token, "approve", APPROVAL_REASON)
    _, stored = http_json(f"{server.base_url}/api/v1/checks/{paused['id']}", token=decide_token, timeout=30)
    decision = stored.get("decision") or {}
    narrative.done(f"check {paused['id']}: {decision.get('decision', 'no decision')} by {decided_by(decision)} "
                   f"at {decision.get('at')}")
    narrative.say(f"    reason: {decision.get('reason')}")
    narrative.say(f"    (read back from GET /api/v1/checks/{paused['id']}; the dashboard shows it on the check's page)")
    return [] if decision == made else [f"check {paused['id']} does not carry the decision made: {decision}"]


def run(args: argparse.Namespace, narrative: Narrative, work_dir: Path) -> int:
    data_dir, log_dir = work_dir / "data", work_dir / "logs"
    data_dir.mkdir(parents=True, exist_ok=True)
    log_dir.mkdir(exist_ok=True)
    database_url = f"sqlite:///{data_dir / 'gate.db'}"
    group = ProcessGroup(log_dir, child_environment(data_dir, database_url), REPO_ROOT)
    server = GateServer(group)
    try:
        narrative.section("1. Gate server (embedded SQLite, gunicorn)")
        narrative.step(f"gate-server db upgrade: {server.migrate()}")
        server.start()
        narrative.done(f"gate-server serve --bind 127.0.0.1:{server.port} is ready")
        token = server.create_token(SERVICE)
        narrative.step(f"gate-server tokens create --service {SERVICE} --scope check: token minted")

        narrative.section(f"2. Recording {SERVICE} with the eBPF probe")
        for version, what in VERSION_STORY.items():
            narrative.step(f"{version:<7} {what}")
        prepare_state_dir(work_dir / "shop")
        plan = RecordingPlan(SERVICE, INSTANCES, args.seconds, args.window, args.rate)
        record(plan, group, database_url, work_dir, narrative)

        narrative.section("3. Gating each canary with the GitHub Action (action/action.yml)")
        failures, documents = gate_canaries(narrative, work_dir / "github", server.base_url, token)

        narrative.section("4. A person approves the paused canary, with a reason")
        failures += approve_paused(narrative, server, documents.get("v2-bad") or {})

        narrative.section("Result")
        token_file = work_dir / "dashboard-token"
        write_private(token_file, server.create_token(SERVICE, description="demo dashboard viewer") + "\n")
        narrative.step(f"logs: {log_dir}")
        narrative.step(f"data: {data_dir} -- browse the dashboard later with:")
        narrative.say(f"      GATE_DATA_DIR={data_dir} {Path(sys.executable).parent / 'gate-server'} "
                      "serve --bind 127.0.0.1:8080")
        narrative.say(f"      then open http://127.0.0.1:8080/ and log in with the token in {token_file}")
        for failure in failures:
            narrative.say(f"  FAILED: {failure}")
        if not failures:
            narrative.say(f"  OK: the healthy canary passed, the misbehaving one was paused and then approved "
                          f"by on-call ({narrative.elapsed():.0f} s)")
        if args.keep_serving and server.running():
            narrative.say(f"\n  gate server still serving on {server.base_url}/ (log in with the token in "
                          f"{token_file}) -- Ctrl-C to stop")
            try:
                signal.pause()
            except KeyboardInterrupt:  # the expected way out of --keep-serving
                narrative.say("  stopping the gate server")
        return 1 if failures else 0
    except KeyboardInterrupt:
        narrative.say("\n  interrupted: stopping everything the demo started")
        return 130
    finally:
        group.stop_all()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    narrative = Narrative()
    # Explicitly, both: a shell may start us with SIGINT ignored (a background job).
    signal.signal(signal.SIGTERM, raise_keyboard_interrupt)
    signal.signal(signal.SIGINT, raise_keyboard_interrupt)
    narrative.say("syscall-gate demo: a baseline, a healthy canary and a misbehaving canary, gated")
    problem = check_host()
    if problem:
        narrative.say(f"demo: cannot run: {problem}")
        return 2
    work_dir = args.work_dir or Path(tempfile.mkdtemp(prefix="syscall-gate-demo-"))
    work_dir.mkdir(parents=True, exist_ok=True)
    narrative.say(f"work dir (logs, data; kept afterwards): {work_dir}")
    try:
        return run(args, narrative, work_dir)
    except DemoError as exc:
        narrative.say(f"\ndemo: FAILED: {exc}")
        narrative.say(f"demo: logs of every process are in {work_dir / 'logs'}")
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
