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
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Optional

from bench.workloads.inject import DEBUG_LISTEN, EXFIL_DIR, INJECTIONS, OUTBOUND_PEER, SENSITIVE_PATH
from gate_server.analysis.profile import FeatureKey, Profile, WindowCounts

FIXTURES_DIR = Path(__file__).resolve().parents[1] / "tests" / "evaluation" / "profiles"
GZIP_ABOVE_BYTES = 200_000
BASELINE_RUNS = ("baseline-1", "baseline-2")
BENIGN = "benign"
# Benign re-runs (same code, new processes) and the share of the traffic each took.
BENIGN_RUNS = {BENIGN: 0.2, "benign-2": 0.2, "benign-3": 0.5, "benign-4": 0.2, "benign-5": 0.1}


def injected_scenario(injection: str) -> str:
    return f"inject-{injection}"


# How each injected change shows in a profile: the feature a judge must flag.
EXPECTED_FEATURE: dict[str, Callable[[FeatureKey], bool]] = {
    "exec": lambda f: f == ("exec", "/bin/sh"),
    "sensitive-read": lambda f: f[0] == "file" and f[1].startswith(SENSITIVE_PATH + ":"),
    "outbound": lambda f: f == ("connect", f"inet:{OUTBOUND_PEER[0]}:{OUTBOUND_PEER[1]}"),
    "listen": lambda f: f[0] in ("listen", "bind") and f[1] == f"inet:{DEBUG_LISTEN[0]}:{DEBUG_LISTEN[1]}",
    "write": lambda f: f[0] == "file" and f[1].startswith(str(EXFIL_DIR) + "/") and f[1].endswith((":w", ":rw")),
}
assert set(EXPECTED_FEATURE) == set(INJECTIONS)


def _time(value: Optional[str]) -> Optional[datetime]:
    return datetime.fromisoformat(value) if value else None


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
            }
            for w in profile.windows
        ],
    }


def profile_from_json(data: dict[str, Any]) -> Profile:
    return Profile(
        service=data["service"],
        version=data["version"],
        windows=[
            WindowCounts(
                counts={(kind, key): int(n) for kind, key, n in w["counts"]},
                syscalls_total=int(w["syscalls_total"]),
                events_total=int(w.get("events_total", 0)),
                sample_every=int(w.get("sample_every", 1)),
                drops={k: int(v) for k, v in (w.get("drops") or {}).items()},
                started_at=_time(w.get("started_at")),
                ended_at=_time(w.get("ended_at")),
            )
            for w in data["windows"]
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


def load_profile(workload: str, scenario: str, fixtures_dir: Path = FIXTURES_DIR) -> Profile:
    return profile_from_json(read_fixture(workload, scenario, fixtures_dir))


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

    @property
    def benign(self) -> bool:
        return self.injection is None


def comparisons(workload: str, fixtures_dir: Path = FIXTURES_DIR) -> list[Comparison]:
    """Every comparison the evaluation makes for one recorded workload."""
    run_1, run_2 = (load_profile(workload, run, fixtures_dir) for run in BASELINE_RUNS)
    baseline = merged([run_1, run_2], run_1.version)
    result = [Comparison(workload, "baseline run 1 vs run 2", run_1, run_2, None)]
    for run in BENIGN_RUNS:
        data = read_fixture(workload, run, fixtures_dir)
        share = data["recording"]["traffic_fraction"]
        result.append(Comparison(workload, f"baseline vs {run} re-run ({share:.0%} traffic)", baseline,
                                 profile_from_json(data), None))
    for injection in INJECTIONS:
        canary = load_profile(workload, injected_scenario(injection), fixtures_dir)
        result.append(Comparison(workload, f"baseline vs {injected_scenario(injection)}", baseline, canary,
                                 injection))
    return result
