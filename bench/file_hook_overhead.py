"""What the fentry file hook costs an open against the sys_enter one, on the same
kernel: `python -m bench probe_overhead --file-hooks` (on a kernel that allows
fentry), or `--vm` to boot the VM tier's kernels (scripts/test-kernels.sh) and run
it in each.

Ratios only: under the VM's software emulation a syscall's absolute time means
nothing, but two hooks measured side by side on one loop still compare. The
open+close loop of probe_overhead runs with nothing attached, with the probe
keying opens at sys_enter, and with the probe keying them at security_file_open
(plus do_sys_openat2's entry and exit), each traced (the loop is the workload)
and untraced (the probe watches another process). Each probe is compiled once
(a compile is a minute under emulation); between its runs its hot hooks are
detached, so only one probe is ever attached. Interleaved rotated rounds; each
run's cost added over the same round's bare run; medians.
"""

from __future__ import annotations

import os
import statistics
import subprocess
from pathlib import Path

from bench.probe_overhead import REPO, _track, added_per_round, interleaved, run_loop, start_and_rss

FENTRY_PROGRAMS = (("kfunc", b"do_sys_openat2"), ("kfunc", b"security_file_open"), ("kretfunc", b"do_sys_openat2"))


class ParkedProbe:
    """One compiled probe, attached only while its variant runs."""

    def __init__(self, file_hook: str):
        from host_probe.kernel import loader

        self.file_hook = file_hook
        self.bpf = loader.load(loader.ProbeOptions(file_hook=file_hook))
        self.attached = True
        self.detach()

    def _programs(self):
        return FENTRY_PROGRAMS if self.file_hook == "fentry" else ()

    def attach(self) -> None:
        self.bpf.attach_raw_tracepoint(tp=b"sys_enter", fn_name=b"raw_tracepoint__sys_enter")
        for kind, name in self._programs():
            getattr(self.bpf, f"attach_{kind}")(fn_name=name)
        self.attached = True

    def detach(self) -> None:
        if not self.attached:
            return
        self.bpf.detach_raw_tracepoint(tp=b"sys_enter")
        for kind, name in self._programs():
            getattr(self.bpf, f"detach_{kind}")(fn_name=name)
        self.attached = False

    def run(self, binary: Path, iterations: int, traced: bool) -> float:
        def attach(pid: int):
            # untraced: the probe watches another (idle) process; the loop pays the scope tests
            _track(self.bpf, pid if traced else os.getppid())
            self.attach()
            return self.detach
        return run_loop(binary, "open", iterations, attach)

    def cleanup(self) -> None:
        self.bpf.cleanup()


def compare(binary: Path, rounds: int, iterations: int) -> dict[str, float]:
    """Medians of each variant's cost added over the bare loop, per syscall."""
    probes = {hook: ParkedProbe(hook) for hook in ("sys_enter", "fentry")}
    try:
        variants = {"none": lambda: run_loop(binary, "open", iterations)}
        for hook, probe in probes.items():
            variants[f"{hook} traced"] = lambda probe=probe: probe.run(binary, iterations, True)
            variants[f"{hook} untraced"] = lambda probe=probe: probe.run(binary, iterations, False)
        per_round = added_per_round(interleaved(variants, rounds))
    finally:
        for probe in probes.values():
            probe.cleanup()
    return {name: statistics.median(values) for name, values in per_round.items() if name != "none"}


def report(added: dict[str, float], rounds: int, iterations: int) -> None:
    print(f"-- file hooks on {os.uname().release}, open+close loop, {rounds} interleaved rounds x {iterations} "
          "iterations; the fentry hook's added cost over the sys_enter hook's, median of per-round added cost")
    for scope in ("traced", "untraced"):
        sys_enter, fentry = added[f"sys_enter {scope}"], added[f"fentry {scope}"]
        ratio = fentry / sys_enter if sys_enter > 0 else float("nan")
        print(f"   {scope:9} fentry / sys_enter = {ratio:5.2f}x")


def main_in_kernel(quick: bool) -> int:
    from bench.probe_overhead import build_loop
    from host_probe.kernel.capabilities import fentry_refusal
    import tempfile

    refusal = fentry_refusal()
    if refusal:
        print(f"file hooks: this kernel cannot run the fentry file hook ({refusal}); run with --vm")
        return 1
    rounds, iterations = (3, 20_000) if quick else (9, 100_000)
    with tempfile.TemporaryDirectory(prefix="file-hook-bench-") as scratch:
        binary = build_loop(Path(scratch))
        report(compare(binary, rounds, iterations), rounds, iterations)
        # the fentry probe compiles <linux/fs.h> too: what that costs the probe's memory
        peaks = {hook: start_and_rss(Path(scratch), "--file-hook", hook)[1] for hook in ("sys_enter", "fentry")}
        print(f"   peak RSS of host-probe record: sys_enter {peaks['sys_enter']:.0f} MB, "
              f"fentry {peaks['fentry']:.0f} MB")
    return 0


def main_in_vm(quick: bool) -> int:
    """Boot each VM tier kernel and run the comparison inside (the tier's own boot)."""
    command = ["bash", str(REPO / "scripts" / "test-kernels.sh"), "--bench"]
    if quick:
        command.append("--quick")
    return subprocess.run(command, cwd=REPO).returncode
