"""Record the evaluation set in the VM tier's kernel, where the fentry file hook
loads: `python -m bench evaluation --record --vm` (this host's kernel refuses
fentry, so its fixtures are all keyed at sys_enter).

scripts/test-kernels.sh --evaluation boots Debian's stock kernel under qemu
(software emulation) with this host's root, and runs `python -m bench.evaluation_vm
--guest ...` inside: the same recorder as on the host (bench/evaluation_record.py,
bench/evaluation_agent.py) with `--file-hook fentry` forced on `record` and the
agent (a kernel that refuses it fails the recording, nothing falls back), into
the fixture directory, which the guest writes through to the host (virtme-ng
--rwdir). The workloads' data (/srv) and ports stay inside the guest, apart from
any recording on the host at the same time. The host judges the fixtures after.

How it differs from the host's recording: every bcc compile takes a minute or more
under emulation, so `record` per scenario records the named subset VM_WORKLOADS x
VM_SCENARIOS (every benign kind, a few injected changes) unless --workload/--scenario
say otherwise, and the other workloads are recorded whole through one agent compiled
once (`--through agent --workload redis --workload postgres --workload webapp`);
the emulated CPU serves less, so every rate is scaled by VM_RATE_SCALE; and
`record --pid` attaches once compiled, so the attach-offset baselines are older
when attached than on the host (each fixture's attached_after_start_s says how old).
To keep its output in a file, append (`>>`): qemu opens the guest's console file
with O_TRUNC, and `>` loses what the host printed before the boot.
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Optional

from bench.evaluation_data import BASELINE_RUNS, OFFSET_BASELINES

REPO = Path(__file__).resolve().parents[1]
FENTRY_FIXTURES_DIR = REPO / "tests" / "evaluation" / "profiles-fentry"
VM_RATE_SCALE = 0.4
VM_FILE_HOOK = "fentry"
# Two of the five workloads (a Python server and nginx: what the emulated CPU starts in
# seconds), every benign comparison kind, and an exec, a secret read and a new listener
# where the workload carries them: 17 recordings and 2 agent runs, about 2.5 min each.
VM_WORKLOADS = ("static", "nginx")
VM_SCENARIOS = (*BASELINE_RUNS, *(s.name for s in OFFSET_BASELINES), "benign-fresh", "benign-attached",
                "inject-exec", "inject-sensitive-read", "inject-listen", "agent")
# Every scenario of these, recorded through one agent compiled once (`--through agent`:
# bench/evaluation_agent_scenarios.py): 25-80 s each in the VM instead of 135-276 s.
VM_AGENT_WORKLOADS = ("redis", "postgres", "webapp")


def guest_arguments(workloads: list[str], scenarios: list[str], duration: float, window: float, startup: float,
                    fixtures: Path, file_hook: Optional[str], rate_scale: Optional[float],
                    through: str = "record") -> list[str]:
    """What the guest's recorder is asked for: the named subset unless told otherwise."""
    argv = ["--fixtures", str(fixtures.resolve()), "--duration", f"{duration:g}", "--window", f"{window:g}",
            "--startup", f"{startup:g}", "--file-hook", file_hook or VM_FILE_HOOK,
            "--rate-scale", f"{VM_RATE_SCALE if rate_scale is None else rate_scale:g}", "--through", through]
    for workload in workloads or VM_WORKLOADS:
        argv += ["--workload", workload]
    for scenario in scenarios or ([] if workloads else VM_SCENARIOS):
        argv += ["--scenario", scenario]
    return argv


def record_in_vm(arguments: list[str], fixtures: Path) -> int:
    """Boot the VM tier's kernels and record inside each; the exit status of the boot."""
    fixtures.mkdir(parents=True, exist_ok=True)
    (REPO / "bench" / "out").mkdir(parents=True, exist_ok=True)  # the workloads' logs, written through
    began = time.monotonic()
    print(f"recording in the VM: python -m bench.evaluation_vm --guest {shlex.join(arguments)}", flush=True)
    status = subprocess.run(["bash", str(REPO / "scripts" / "test-kernels.sh"), "--evaluation",
                             str(fixtures.resolve()), *arguments], cwd=REPO).returncode
    print(f"recorded in the VM in {time.monotonic() - began:.0f} s (exit {status})", flush=True)
    return status


def main_in_guest(argv: list[str]) -> int:
    from bench.evaluation_record import RecordOptions, record
    from bench.workloads.services import WORKLOADS

    parser = argparse.ArgumentParser(prog="python -m bench.evaluation_vm --guest")
    parser.add_argument("--fixtures", type=Path, required=True)
    parser.add_argument("--workload", action="append", default=[], choices=sorted(WORKLOADS))
    parser.add_argument("--scenario", action="append", default=[])
    parser.add_argument("--duration", type=float, required=True)
    parser.add_argument("--window", type=float, required=True)
    parser.add_argument("--startup", type=float, required=True)
    parser.add_argument("--file-hook", required=True)
    parser.add_argument("--rate-scale", type=float, required=True)
    parser.add_argument("--through", choices=("record", "agent"), default="record")
    args = parser.parse_args(argv)
    options = RecordOptions(args.duration, args.window, args.startup, args.file_hook, args.rate_scale)
    began = time.monotonic()
    failures = record(args.workload, args.scenario, options, args.fixtures, args.through)
    print(f"guest: recorded in {time.monotonic() - began:.0f} s, {'some failed' if failures else 'all stored'}",
          flush=True)
    return failures


if __name__ == "__main__":
    if sys.argv[1:2] != ["--guest"]:
        sys.exit("usage: python -m bench evaluation --record --vm (this module's --guest runs inside the VM)")
    sys.exit(main_in_guest(sys.argv[2:]))
