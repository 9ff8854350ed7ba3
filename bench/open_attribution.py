"""Where a traced open's cost goes: the probe cut short at each step of its open
path, against the empty program (the floor), on the open+close loop.

`python -m bench open_attribution [--quick]`. Needs root, bcc and gcc. No target:
it explains probe_overhead's open-loop figure. Each variant is a copy of
bpf/probe.bpf.c with a `return` put in one place of record_open (made in a temp
dir, never committed), so every variant runs exactly the product's code up to
that point. Interleaved, rotated rounds; medians of per-round added cost (each
variant minus the same round's no-probe run), per open+close iteration.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

from bench.probe_overhead import added_per_round, attach_floor, attach_probe, build_loop, interleaved, run_loop

OPEN_START = "static __always_inline void record_open(u32 slot, const char *upath, u8 mode, int dirfd)\n{\n"
AFTER_READ = "    struct file_key key = {.generation"
AFTER_HASH = "    u64 *count = file_counts.lookup(&key);\n"
# Each cut: where its `return` goes. The hash cut keeps the key alive so the
# compiler cannot drop the hashing it is there to measure.
CUTS = {
    "+ argument read": (OPEN_START, OPEN_START + "    return;\n"),
    "+ path read": (AFTER_READ, "    return;\n" + AFTER_READ),
    "+ path hash": (AFTER_HASH, '    asm volatile("" :: "r"(key.path_hash));\n    return;\n' + AFTER_HASH),
}


def cut_source(directory: Path, name: str) -> Path:
    """A copy of the probe that returns at one cut; fails loudly if the probe's
    code moved, instead of measuring something else."""
    from host_probe.kernel import loader

    source = loader.PROBE_SOURCE.read_text()
    anchor, replacement = CUTS[name]
    if source.count(anchor) != 1:
        raise RuntimeError(f"open_attribution: {anchor.strip()!r} is not in {loader.PROBE_SOURCE} exactly once; "
                           "update the cuts to the probe's current code")
    path = directory / f"probe-{name.strip('+ ').replace(' ', '-')}.bpf.c"
    path.write_text(source.replace(anchor, replacement))
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench open_attribution", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer rounds and iterations")
    args = parser.parse_args(argv)
    if os.geteuid() != 0 or not shutil.which("gcc"):
        print("open_attribution: needs root and gcc; skipped")
        return 1
    rounds, iterations = (3, 200_000) if args.quick else (9, 500_000)
    with tempfile.TemporaryDirectory(prefix="open-attribution-") as scratch:
        directory = Path(scratch)
        binary = build_loop(directory)
        attaches = {"none": None, "floor": attach_floor, "probe counts only": attach_probe(True, numbers={})}
        attaches.update({name: attach_probe(True, cut_source(directory, name)) for name in CUTS})
        attaches["+ map update (full probe)"] = attach_probe(True)
        # run_loop gives ns per syscall; an open+close iteration is two
        samples = interleaved({name: (lambda attach=attach: 2 * run_loop(binary, "open", iterations, attach))
                               for name, attach in attaches.items()}, rounds)
    names = list(attaches)
    added = {name: statistics.median(values) for name, values in added_per_round(samples).items()}
    print(f"-- open+close loop: {rounds} interleaved rounds x {iterations} iterations; ns per iteration")
    previous = None
    for name in names[1:]:
        step = f"  step {added[name] - added[previous]:+7.1f} ns" if previous in added and previous != "floor" else ""
        print(f"   {name:26} added {added[name]:7.1f} ns{step}")
        previous = name
    floor = max(added["floor"], 0.1)
    print(f"   full probe / floor {added['+ map update (full probe)'] / floor:.2f}x; "
          f"counts only / floor {added['probe counts only'] / floor:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
