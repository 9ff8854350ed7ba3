"""The evaluation set's stored fixtures: recorded profiles as small JSON files.

One file per recording, tests/evaluation/profiles/<workload>/<scenario>.json
(.json.gz when large), holding the Profile exactly as
gate_server.storage.profiles.load_profile returned it after the real probe wrote
it, plus how it was recorded. This module turns them back into Profiles and says
which comparisons the evaluation makes and what each injected change looks like.
"""

from __future__ import annotations

import gzip
import json
import os
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Optional

from bench.workloads.inject import (
    DEBUG_LISTEN, EXEC_COMMAND, EXFIL_DIR, INJECTIONS, ONCE, OUTBOUND_PEER, SENSITIVE_PATH, SPELLINGS,
)
from gate_contract.profile import FeatureKey, ProgramFacts, Profile, WindowCounts
from gate_contract.keys import UNRESOLVED
from gate_contract.records import WindowRecord
from gate_server.storage.bounds import representative_sample

FIXTURES_DIR = Path(__file__).resolve().parents[1] / "tests" / "evaluation" / "profiles"
GZIP_ABOVE_BYTES = 200_000
BASELINE_RUNS = ("baseline-1", "baseline-2")
CANARY_TRAFFIC = 0.2


@dataclass(frozen=True)
class Scenario:
    """One recording: what runs, how much traffic it takes, and how the probe meets it.
    `fresh`: started by the probe (`-- CMD`, a canary as a rollout starts it); else the
    probe attaches (`--pid`) to a service already running for a while (a baseline)."""

    name: str
    injection: Optional[str] = None
    variant: Optional[str] = None
    traffic: float = CANARY_TRAFFIC  # fraction of the workload's full rate
    fresh: bool = True
    role: str = "canary"
    version: str = "v2"
    # attached (not fresh): how long after the service is ready the probe is started (it
    # attaches once compiled); None: past the start-up span
    attach_after: Optional[float] = None

    @property
    def benign(self) -> bool:
        return self.injection is None


def injected_scenario(injection: str) -> str:
    return f"inject-{injection}"


BASELINES = tuple(Scenario(run, traffic=1.0, fresh=False, role="baseline", version="v1") for run in BASELINE_RUNS)
# Baselines attached at other ages (issue 23), each compared with the benign fresh canary:
# the probe started as soon as the service serves, and 4 s later. `record --pid` attaches
# once compiled, so the age is that and more (each fixture says it: 2 s to 28 s on a
# loaded host); the agent's baseline (bench/evaluation_agent.py) is attached at 1 s.
OFFSET_BASELINES = (Scenario("baseline-attach-early", traffic=1.0, fresh=False, role="baseline", version="v1",
                             attach_after=0.0),
                    Scenario("baseline-attach-edge", traffic=1.0, fresh=False, role="baseline", version="v1",
                             attach_after=4.0))
# Benign canaries: the same code re-deployed (new processes, pids, temp names).
BENIGN_SCENARIOS = (
    Scenario("benign-fresh"),  # restarted from scratch against the long-running baseline
    Scenario("benign-fresh-50", traffic=0.5),
    Scenario("benign-attached", fresh=False),  # the old way: the canary attached to as well
    Scenario("benign-worker-churn", variant="worker-churn"),  # many short-lived workers
)
INJECTED_SCENARIOS = tuple(Scenario(injected_scenario(i), injection=i) for i in INJECTIONS)
SCENARIOS = BASELINES + OFFSET_BASELINES + BENIGN_SCENARIOS + INJECTED_SCENARIOS


def scenarios_for(workload) -> list[Scenario]:
    """The recordings a workload takes part in: what its code and config can carry."""
    return [s for s in SCENARIOS
            if (s.injection is None or s.injection in workload.injections)
            and (s.variant is None or s.variant in workload.variants)]


def _is_secret(f: FeatureKey) -> bool:
    """/etc/shadow, or a key the probe could not resolve whose last components are
    shadow's (an openat on a directory fd closed before the drain: the sys_enter hook
    resolves after the fact; the judge's sensitive rules match such keys by their tail)."""
    if f[0] != "file":
        return False
    path = f[1].rsplit(":", 1)[0]
    if path.startswith(UNRESOLVED):
        lexical = path.removeprefix(UNRESOLVED).lstrip("./")
        return lexical != "" and SENSITIVE_PATH.endswith("/" + lexical)
    return path == SENSITIVE_PATH


# The injected exec runs /bin/sh; the probe keys an exec by the file the kernel runs, the
# symlink resolved (Debian's /bin/sh is dash): either name is the injected program.
INJECTED_SHELLS = frozenset({EXEC_COMMAND[0], os.path.realpath(EXEC_COMMAND[0]), "/usr/bin/dash", "/bin/dash",
                             "/usr/bin/bash", "/bin/bash"})


def _is_injected_shell(f: FeatureKey) -> bool:
    return f[0] == "exec" and f[1] in INJECTED_SHELLS


def _is_new_log(f: FeatureKey) -> bool:
    # The file each workload's logging/persistence option opens for writing.
    return f[0] == "file" and f[1].endswith((":w", ":rw")) and any(
        part in f[1] for part in ("/webapp/log/debug.log", "/nginx/log/access.log", "/redis/appendonlydir/",
                                  "/postgres/data/log/"))


# How each injected change shows in a profile: the feature a judge must flag.
EXPECTED_FEATURE: dict[str, Callable[[FeatureKey], bool]] = {
    "exec": _is_injected_shell,
    "exec-once": _is_injected_shell,
    "sensitive-read": _is_secret,
    **{f"sensitive-{name}": _is_secret for name in SPELLINGS},
    "outbound": lambda f: f == ("connect", f"inet:{OUTBOUND_PEER[0]}:{OUTBOUND_PEER[1]}"),
    "outbound-once": lambda f: f == ("connect", f"inet:{OUTBOUND_PEER[0]}:{OUTBOUND_PEER[1]}"),
    "listen": lambda f: f[0] in ("listen", "bind") and f[1] == f"inet:{DEBUG_LISTEN[0]}:{DEBUG_LISTEN[1]}",
    "write": lambda f: f[0] == "file" and f[1].startswith(str(EXFIL_DIR) + "/") and f[1].endswith((":w", ":rw")),
    "logging": _is_new_log,
}
assert set(EXPECTED_FEATURE) == set(INJECTIONS)
assert set(ONCE) <= set(INJECTIONS)

# The least each change must get (issue 13's targets): a secret read, an exec, a new
# destination or a new listener pauses; any other change in behaviour warns at least.
PAUSE_KINDS = ("exec", "sensitive", "outbound", "listen")


def expected_verdict(injection: Optional[str]) -> str:
    """"no pause", "pause" or "warn" (warn or pause)."""
    if injection is None:
        return "no pause"
    return "pause" if injection.split("-")[0] in PAUSE_KINDS else "warn"


def kind_of(injection: Optional[str], scenario: str) -> str:
    """The row of the per-kind report a comparison counts in."""
    if injection is None:
        return BENIGN_KINDS[scenario.removesuffix("-50")]
    if injection.startswith("sensitive-") and injection != "sensitive-read":
        return "sensitive read, another spelling"
    return injection


BENIGN_KINDS = {
    "benign-fresh": "benign: fresh restart vs the long-running baseline",
    "baseline-attach-early": "benign: baseline attached by record as soon as it serves vs fresh",
    "baseline-attach-edge": "benign: baseline attached by record 4 s later vs fresh",
    "agent-rolling": "benign: rolling update through the agent (agent baseline)",
    "agent-baseline": "benign: agent baseline (attached at 1 s, agent restarted) vs fresh by record",
    "agent-rolling-vs-record": "benign: rolling update through the agent vs record's baseline",
    "benign-attached": "benign: canary attached to as well",
    "benign-worker-churn": "benign: many short-lived workers",
}


def _utc(value: Optional[str]) -> Optional[str]:
    # Fixtures recorded through SQLite hold naive times; every stored time is UTC.
    if value is None:
        return None
    parsed = datetime.fromisoformat(value)
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)).isoformat()


# A fixture names no recording uuid; the record model needs one.
FIXTURE_RECORDING_UUID = "00000000-0000-4000-8000-000000000000"


def profile_to_json(profile: Profile, recording: dict[str, Any]) -> dict[str, Any]:
    return {
        "service": profile.service,
        "version": profile.version,
        "recording": recording,
        "windows": [
            {
                "counts": sorted([kind, key, n] for (kind, key), n in w.counts.items()),
                "syscalls_total": w.syscalls_total,
                "events_total": w.events_total,
                "sample_every": w.sample_every,
                "drops": dict(w.drops),
                "started_at": w.started_at.isoformat() if w.started_at else None,
                "ended_at": w.ended_at.isoformat() if w.ended_at else None,
                "startup": w.startup,
                "workload_started_at": w.workload_started_at.isoformat() if w.workload_started_at else None,
                "inventory": sorted([kind, key] for kind, key in w.inventory),
                "hooks": dict(w.hooks),
                # lineage (which program made what, and who exec'd it), as the server stores it
                "programs": [{"program": facts.program, "started_by": sorted(facts.started_by),
                              "features": sorted([kind, key] for kind, key in facts.features)}
                             for facts in w.programs],
                "unnamed": sorted([kind, key] for kind, key in w.unnamed),
            }
            for w in profile.windows
        ],
    }


def _window_record(window: dict[str, Any], index: int) -> WindowRecord:
    """A fixture's window as the record the probe sends and the writer stores: what the model
    refuses, a fixture may not hold."""
    return WindowRecord.model_validate({
        "recording_uuid": FIXTURE_RECORDING_UUID, "index": index,
        "started_at": _utc(window.get("started_at")), "ended_at": _utc(window.get("ended_at")),
        "syscalls_total": int(window["syscalls_total"]), "events_total": int(window.get("events_total", 0)),
        "sample_every": int(window.get("sample_every", 1)), "drops": window.get("drops") or {},
        "features": window["counts"], "startup": bool(window.get("startup", False)),
        "workload_started_at": _utc(window.get("workload_started_at")),
        # the model's inventory carries a count per held feature; the judge reads which are held
        "inventory": [[kind, key, 1] for kind, key in window.get("inventory", [])],
        "hooks": window.get("hooks") or {},
        "programs": window.get("programs") or [], "unnamed": window.get("unnamed") or [],
    })


def profile_from_json(data: dict[str, Any]) -> Profile:
    records = [_window_record(window, index) for index, window in enumerate(data["windows"])]
    return Profile(
        service=data["service"],
        version=data["version"],
        windows=[
            WindowCounts(
                counts=dict(record.features), syscalls_total=record.syscalls_total,
                events_total=record.events_total, sample_every=record.sample_every, drops=dict(record.drops),
                started_at=record.started_at, ended_at=record.ended_at, startup=record.startup,
                workload_started_at=record.workload_started_at, inventory=frozenset(record.inventory),
                hooks=dict(record.hooks),
                programs=tuple(ProgramFacts(program=p.program, started_by=frozenset(p.started_by),
                                            features=frozenset(map(tuple, p.features))) for p in record.programs),
                unnamed=frozenset(map(tuple, record.unnamed)),
            )
            for record in records
        ],
    )


def write_fixture(path_without_suffix: Path, data: dict[str, Any]) -> Path:
    """Write JSON; gzip it when it would exceed GZIP_ABOVE_BYTES."""
    text = json.dumps(data, separators=(",", ":"))
    path_without_suffix.parent.mkdir(parents=True, exist_ok=True)
    for stale in (path_without_suffix.with_suffix(".json"), path_without_suffix.with_suffix(".json.gz")):
        stale.unlink(missing_ok=True)
    if len(text) > GZIP_ABOVE_BYTES:
        path = path_without_suffix.with_suffix(".json.gz")
        path.write_bytes(gzip.compress(text.encode(), mtime=0))
    else:
        path = path_without_suffix.with_suffix(".json")
        path.write_text(text)
    return path


def read_fixture(workload: str, scenario: str, fixtures_dir: Path = FIXTURES_DIR) -> dict[str, Any]:
    base = fixtures_dir / workload / scenario
    if base.with_suffix(".json.gz").exists():
        return json.loads(gzip.decompress(base.with_suffix(".json.gz").read_bytes()))
    if base.with_suffix(".json").exists():
        return json.loads(base.with_suffix(".json").read_text())
    raise FileNotFoundError(f"no fixture {base}.json(.gz); record it with `python -m bench evaluation --record`")


def load_profile(workload: str, scenario: str, fixtures_dir: Path = FIXTURES_DIR, steady_bound: int = 0) -> Profile:
    return bounded(profile_from_json(read_fixture(workload, scenario, fixtures_dir)), steady_bound)


def bounded(profile: Profile, steady_bound: int) -> Profile:
    """One recording (one host) as the server keeps it under GATE_MAX_STEADY_WINDOWS_PER_HOST
    = `steady_bound` (0: every window): every start-up or inventory window, and a
    representative sample of the steady ones (gate_server/storage/bounds.py)."""
    steady = [(n, w.started_at, frozenset(w.counts)) for n, w in enumerate(profile.windows)
              if not w.startup and not w.inventory]
    if steady_bound <= 0 or len(steady) <= steady_bound:
        return profile
    kept = representative_sample(steady, steady_bound) | {n for n, w in enumerate(profile.windows)
                                                     if w.startup or w.inventory}
    return replace(profile, windows=[w for n, w in enumerate(profile.windows) if n in kept])


def merged(profiles: list[Profile], version: str) -> Profile:
    """Several recordings of one version as one profile, as the server loads them."""
    return Profile(service=profiles[0].service, version=version,
                   windows=[w for p in profiles for w in p.windows])


def recorded_workloads(fixtures_dir: Path = FIXTURES_DIR) -> list[str]:
    if not fixtures_dir.is_dir():
        return []
    return sorted(p.name for p in fixtures_dir.iterdir() if p.is_dir())


@dataclass(frozen=True)
class Comparison:
    workload: str
    name: str  # e.g. "baseline vs inject-exec"
    baseline: Profile
    canary: Profile
    injection: Optional[str]  # None for a benign comparison
    kind: str = ""  # the row of the per-kind report
    canary_fresh: bool = False

    @property
    def benign(self) -> bool:
        return self.injection is None

    @property
    def expected(self) -> str:
        return expected_verdict(self.injection)


def comparisons(workload: str, fixtures_dir: Path = FIXTURES_DIR, steady_bound: int = 0) -> list[Comparison]:
    """Every comparison the evaluation makes for one recorded workload: the two
    baseline runs against each other, and the merged baseline (as the server loads a
    version) against every other recording stored for it."""
    run_1, run_2 = (load_profile(workload, run, fixtures_dir, steady_bound) for run in BASELINE_RUNS)
    baseline = merged([run_1, run_2], run_1.version)
    result = [Comparison(workload, "baseline run 1 vs run 2", run_1, run_2, None, "benign: baseline run 1 vs run 2")]
    stored = {p.name.split(".")[0] for p in (fixtures_dir / workload).iterdir()}
    result += _grown_comparisons(workload, baseline, stored, fixtures_dir)
    for scenario in SCENARIOS:
        if scenario.role == "baseline" or scenario.name not in stored:
            continue
        data = read_fixture(workload, scenario.name, fixtures_dir)
        how = "fresh" if data["recording"].get("fresh") else "attached"
        share = data["recording"]["traffic_fraction"]
        result.append(Comparison(workload, f"baseline vs {scenario.name} ({how}, {share:.0%} traffic)", baseline,
                                 bounded(profile_from_json(data), steady_bound), scenario.injection,
                                 kind_of(scenario.injection, scenario.name), bool(data["recording"].get("fresh"))))
    return result


def _grown_comparisons(workload: str, baseline: Profile, stored: set[str], fixtures_dir: Path) -> list[Comparison]:
    """Issue 23's benign comparisons: baselines attached at other ages, and the rolling
    update recorded through the agent, against the canaries of both paths."""
    def profile(name: str) -> Profile:
        return load_profile(workload, name, fixtures_dir)

    def age(name: str) -> str:
        seconds = read_fixture(workload, name, fixtures_dir)["recording"].get("attached_after_start_s")
        return f"attached at {seconds:g} s" if seconds is not None else "attached"

    pairs = []
    if "benign-fresh" in stored:
        pairs += [(f"{name} ({age(name)}) vs benign-fresh", name, profile(name), profile("benign-fresh"))
                  for name in ("baseline-attach-early", "baseline-attach-edge") if name in stored]
    if {"agent-baseline", "agent-rolling"} <= stored:
        agent_baseline = profile("agent-baseline")
        pairs.append(("agent-baseline vs agent-rolling (both through the agent)", "agent-rolling", agent_baseline,
                      profile("agent-rolling")))
        if "benign-fresh" in stored:
            pairs.append(("agent-baseline vs benign-fresh (canary by record)", "agent-baseline", agent_baseline,
                          profile("benign-fresh")))
        pairs.append(("baseline vs agent-rolling (baseline by record)", "agent-rolling-vs-record", baseline,
                      profile("agent-rolling")))
    return [Comparison(workload, name, base, canary, None, BENIGN_KINDS[kind], True)
            for name, kind, base, canary in pairs]
