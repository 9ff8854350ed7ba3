"""Run the benchmarks: `python -m bench [NAME ...] [--quick]`.

Each benchmark module defines main(argv) -> int and prints its own ratios, measured
side by side in one run (interleaved, medians), because this machine is noisy.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# Module names under bench/, in the order they run.
BENCHES = ("probe_overhead", "open_attribution", "agent_scale", "check_latency", "load", "fleet", "spool_drain",
           "evaluation", "docker_startup", "pod_startup")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("names", nargs="*", help=f"benchmarks to run (default: all of {', '.join(BENCHES)})")
    parser.add_argument("--quick", action="store_true", help="fewer rounds, for a smoke run")
    # Options after one benchmark's name are that benchmark's own
    # (`python -m bench evaluation --record`).
    args, extra = parser.parse_known_args(argv)
    if extra and len(args.names) != 1:
        parser.error(f"options {' '.join(extra)} need exactly one benchmark name before them")
    failures = 0
    for name in args.names or BENCHES:
        if name not in BENCHES:
            parser.error(f"unknown benchmark {name!r}; choose from {', '.join(BENCHES)}")
        try:
            module = importlib.import_module(f"bench.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"bench.{name}":
                print(f"== {name}: not built yet", flush=True)
                continue
            raise
        print(f"== {name}", flush=True)
        failures += 1 if module.main((["--quick"] if args.quick else []) + extra) else 0
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
