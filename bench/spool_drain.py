"""The probe's sender draining a spool an outage filled: ROUNDS times, interleaved, a
spool of WINDOWS windows (of --features features each, one recording) is sent to a
gate server (gunicorn on a throwaway Postgres, loopback) by the probe's own code path
(`host-probe replay`'s: the Sender and ServerDestination), once one window per request
(--batch-windows 1, the sender before batches) and once in batches (default 100).
Reports each mode's median windows/s, the ratio, and the requests each drain took.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

from bench.check_latency import feature_set
from bench.load import SERVICE, tokens
from gate_server.storage import migrate
from host_probe.delivery.destinations import ServerDestination
from host_probe.delivery.sender import replay_spool_dir
from tests.support.live_server import LiveServer
from tests.support.postgres import ThrowawayPostgres


def fill_spool(spool: Path, windows: int, features: int) -> None:
    """One recording's spool file as a probe leaves it after an outage: its recording, then its windows."""
    recording = str(uuid.uuid4())
    started = datetime.now(timezone.utc) - timedelta(seconds=10 * windows + 60)
    keys = feature_set(features)
    spool.mkdir(parents=True, exist_ok=True)
    with (spool / f"{recording}.jsonl").open("w") as out:
        info = {"uuid": recording, "service": SERVICE, "version": "v3", "role": "canary",
                "started_at": started.isoformat(), "ended_at": (started + timedelta(seconds=10 * windows)).isoformat()}
        out.write(json.dumps({"type": "recording", "data": info}) + "\n")
        for index in range(windows):
            began = started + timedelta(seconds=10 * index)
            window = {"recording_uuid": recording, "index": index, "started_at": began.isoformat(),
                      "ended_at": (began + timedelta(seconds=10)).isoformat(), "syscalls_total": 1000,
                      "features": [[kind, key, 1 + (index + n) % 500] for n, (kind, key) in enumerate(keys)]}
            out.write(json.dumps({"type": "window", "data": window}) + "\n")


def drain(server: LiveServer, token: str, scratch: Path, batch: int, windows: int, features: int) -> tuple[float, int]:
    """(seconds to drain, requests sent)."""
    spool = scratch / f"spool-{uuid.uuid4().hex[:8]}"
    fill_spool(spool, windows, features)
    destination = ServerDestination(server.url, token)
    answers = []
    destination.session.hooks["response"].append(lambda response, **_: answers.append(response.status_code))
    began = time.perf_counter()
    stored, left, _ = replay_spool_dir(destination, spool, batch, log=lambda _: None)
    elapsed = time.perf_counter() - began
    assert (stored, left) == (1, 0), f"the spool was not drained: {stored} stored, {left} left"
    assert all(200 <= status < 300 for status in answers), answers
    return elapsed, len(answers)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench spool_drain", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="2 rounds of 100 windows")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--windows", type=int, default=300, help="spooled windows per drain (default 300)")
    parser.add_argument("--features", type=int, default=300, help="features per window (default 300)")
    parser.add_argument("--batch-windows", type=int, default=100)
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers (default 4)")
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.windows = 2, 100
    modes = (1, args.batch_windows)
    seconds: dict[int, list[float]] = {mode: [] for mode in modes}
    requests: dict[int, list[int]] = {mode: [] for mode in modes}
    with ThrowawayPostgres() as postgres, tempfile.TemporaryDirectory(prefix="syscall-gate-drain-") as scratch:
        url = postgres.create_database("bench_spool_drain")
        migrate.upgrade(url)
        token = tokens(url)["ingest"]
        with LiveServer(url, workers=args.workers) as server:
            for round_ in range(args.rounds):
                for mode in modes if round_ % 2 == 0 else reversed(modes):  # interleaved, order alternating
                    elapsed, sent = drain(server, token, Path(scratch), mode, args.windows, args.features)
                    seconds[mode].append(elapsed)
                    requests[mode].append(sent)
                    print(f"  round {round_ + 1}: --batch-windows {mode:<4} {args.windows / elapsed:7.1f} windows/s "
                          f"({elapsed:.2f} s, {sent} requests)", flush=True)
    rates = {mode: args.windows / statistics.median(seconds[mode]) for mode in modes}
    for mode in modes:
        print(f"--batch-windows {mode:<4} median {rates[mode]:7.1f} windows/s, "
              f"{statistics.median(requests[mode]):.0f} requests per drain of {args.windows}", flush=True)
    print(f"ratio (batches / one by one): {rates[args.batch_windows] / rates[1]:.1f}x", flush=True)
    return 0
