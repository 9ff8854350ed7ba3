"""A fleet through the real server path: HOSTS simulated hosts, each watching WORKLOADS
workloads (one service each), send their windows as the node agent does — one batch of
every workload's window per drain, `POST /api/v1/windows`, gzip — to `gate-server serve`
(gunicorn) on a throwaway Postgres, as fast as the server takes them, for SECONDS.

Then, on the same database:
  - stored rows and bytes: windows, rollups, the database's growth; bytes per window and
    so per workload-day (8 640 windows of 10 s) without the steady-window bound, and what
    the bound and the rollups leave per workload;
  - checks: CHECKS sequential checks of a seeded service (30 windows a side of 300
    features), p50/p95 and checks/s per server core, with SEED_SERVICES services seeded
    first through the real writer (each a version with GATE_MAX_STEADY_WINDOWS_PER_HOST
    steady windows spread over 30 days: what the bound leaves of 30 days);
  - hosts per server core: windows/s per core of the server's own CPU (gunicorn's
    processes, read from /proc; Postgres's CPU is reported apart), over the windows one
    host sends (WORKLOADS windows per 10 s).

The load client shares the machine's cores with the server and Postgres. Bounded: at most
MAX_SECONDS of load; the server binds 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import statistics
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import requests
from sqlalchemy import text
from sqlalchemy.orm import Session

from bench.check_latency import feature_set, percentile
from bench.load import run_all
from gate_contract.engine import make_engine
from gate_contract.records import RecordingInfo, WindowRecord
from gate_contract.writer import WindowWriter
from gate_server.services.tokens import create_token
from gate_server.storage import migrate
from tests.support.live_server import LiveServer
from tests.support.postgres import ThrowawayPostgres

MAX_SECONDS = 600
WINDOW = timedelta(seconds=10)
WINDOWS_PER_DAY = 8640
CHECK_SERVICE = "fleet-check"
BOUND = 120  # GATE_MAX_STEADY_WINDOWS_PER_HOST's default
# Windows begin this long ago, 10 s apart per workload: none ends after its receipt.
BACKDATED = timedelta(hours=20)
TICK = os.sysconf("SC_CLK_TCK")


@dataclass
class Tally:
    windows: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / TICK


def _processes(where) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if where(int(entry.name), int(fields[1]), int(fields[2])):  # pid, ppid, pgid
                found.append(int(entry.name))
    return found


def server_pids(server: LiveServer) -> list[int]:
    return _processes(lambda pid, ppid, pgid: pgid == server.process.pid)


def postgres_pids(postgres: ThrowawayPostgres) -> list[int]:
    postmaster = int((postgres.data / "postmaster.pid").read_text().split()[0])
    return [postmaster] + _processes(lambda pid, ppid, pgid: ppid == postmaster)


def _fleet_services(hosts: int, workloads: int) -> list[str]:
    return [f"fleet-{n}" for n in range(workloads)]  # workload n is the same service on every host


def host(base: str, token: str, number: int, workloads: int, features: int, deadline: float, tally: Tally) -> None:
    """One simulated host: a recording per workload, then one gzip batch per drain."""
    rng = random.Random(number)
    keys = feature_set(features)
    # A few feature lists serialised once: the client's CPU is the server's cores' too.
    pool = [json.dumps([[kind, key, rng.randint(1, 500)] for kind, key in keys]) for _ in range(4)]
    started = datetime.now(timezone.utc) - BACKDATED
    recordings = [str(uuid.uuid4()) for _ in range(workloads)]
    with requests.Session() as http:
        http.headers["Authorization"] = f"Bearer {token}"
        for workload, recording in enumerate(recordings):
            info = {"service": f"fleet-{workload}", "version": "v1", "role": "baseline", "host": f"host-{number}",
                    "started_at": started.isoformat()}
            response = http.put(f"{base}/api/v1/recordings/{recording}", json=info, timeout=60)
            if response.status_code >= 300:
                tally.errors.append(f"recording: HTTP {response.status_code} {response.text[:200]}")
                return
        index = 0
        while time.monotonic() < deadline:
            began = started + WINDOW * index
            head = (f'"index":{index},"started_at":"{began.isoformat()}","ended_at":"{(began + WINDOW).isoformat()}",'
                    f'"syscalls_total":100000,"startup":{"true" if index == 0 else "false"},"features":')
            body = '{"windows":[' + ",".join('{"recording_uuid":"' + recording + '",' + head + pool[n % 4] + "}"
                                             for n, recording in enumerate(recordings)) + "]}"
            sent = time.perf_counter()
            try:
                response = http.post(f"{base}/api/v1/windows", data=gzip.compress(body.encode(), 1), timeout=120,
                                     headers={"Content-Encoding": "gzip", "Content-Type": "application/json"})
            except requests.RequestException as exc:
                tally.errors.append(f"no answer: {type(exc).__name__}")
                continue
            if response.status_code >= 300:
                tally.errors.append(f"HTTP {response.status_code}: {response.text[:200]}")
                continue
            with tally.lock:
                tally.windows += workloads
                tally.latencies_ms.append(1000 * (time.perf_counter() - sent))
            index += 1


def fleet_tokens(url: str, services: list[str]) -> tuple[str, str]:
    """(an ingest token for the fleet's services, a check token for the checked service)."""
    engine = make_engine(url)
    with Session(engine) as session, session.begin():
        made = (create_token(session, scope="ingest", services=services).secret,
                create_token(session, scope="check", services=[CHECK_SERVICE]).secret)
    engine.dispose()
    return made


def seed_fleet(url: str, services: int, features: int) -> float:
    """`services` services, each one version on one host with BOUND steady windows spread over
    30 days and a start-up window, through the real writer, 200 windows a transaction; seconds."""
    engine = make_engine(url)
    writer = WindowWriter(engine)
    keys = feature_set(features)
    rng = random.Random(7)
    pool = [{key: rng.randint(1, 500) for key in keys} for _ in range(4)]
    began = time.monotonic()
    start = datetime.now(timezone.utc) - timedelta(days=30)
    step = timedelta(days=30) / BOUND
    batch: list[WindowRecord] = []
    for n in range(services):
        recording = RecordingInfo(uuid=str(uuid.uuid4()), service=f"seeded-{n}", version="v1", role="baseline",
                                  started_at=start, host="host-0")
        writer.save_recording(recording)
        for index in range(BOUND + 1):
            at = start + step * index
            batch.append(WindowRecord(recording_uuid=recording.uuid, index=index, started_at=at, ended_at=at + WINDOW,
                                      syscalls_total=100_000, features=pool[index % 4], startup=index == 0))
            if len(batch) >= 200:
                writer.write_windows(batch)
                batch = []
    if batch:
        writer.write_windows(batch)
    engine.dispose()
    return time.monotonic() - began


def seed_check_service(url: str, features: int) -> None:
    """The service checks compare: v1 and v2, 30 windows a side of `features` features."""
    engine = make_engine(url)
    writer = WindowWriter(engine)
    keys = feature_set(features)
    start = datetime.now(timezone.utc) - timedelta(hours=2)
    for version, role in (("v1", "baseline"), ("v2", "canary")):
        rng = random.Random(version)
        recording = RecordingInfo(uuid=str(uuid.uuid4()), service=CHECK_SERVICE, version=version, role=role,
                                  started_at=start, host="host-0")
        writer.save_recording(recording)
        writer.write_windows([WindowRecord(
            recording_uuid=recording.uuid, index=index, started_at=start + WINDOW * index,
            ended_at=start + WINDOW * (index + 1), syscalls_total=100_000,
            features={key: rng.randint(5, 500) for key in keys}) for index in range(30)])
    engine.dispose()


def run_checks(base: str, token: str, count: int, pids: list[int]) -> tuple[list[float], float, list[str]]:
    """`count` sequential checks; (latencies ms, server CPU seconds, errors)."""
    body = {"service": CHECK_SERVICE, "baseline_version": "v1", "canary_version": "v2", "stage": "fleet"}
    latencies, errors = [], []
    cpu = _cpu_seconds(pids)
    with requests.Session() as http:
        http.headers["Authorization"] = f"Bearer {token}"
        for _ in range(count):
            sent = time.perf_counter()
            response = http.post(f"{base}/api/v1/checks", json=body, timeout=60)
            if 200 <= response.status_code < 300:
                latencies.append(1000 * (time.perf_counter() - sent))
            else:
                errors.append(f"HTTP {response.status_code}: {response.text[:200]}")
    return latencies, _cpu_seconds(pids) - cpu, errors


def storage(url: str) -> dict[str, int]:
    engine = make_engine(url)
    with engine.connect() as conn:
        sizes = {
            "database": conn.execute(text("SELECT pg_database_size(current_database())")).scalar_one(),
            "windows_bytes": conn.execute(text(
                "SELECT coalesce(sum(pg_total_relation_size(relid)), 0) FROM pg_partition_tree('windows')")).scalar_one(),
            "rollups_bytes": conn.execute(text("SELECT pg_total_relation_size('window_rollups')")).scalar_one(),
            "windows": conn.execute(text("SELECT count(*) FROM windows")).scalar_one(),
            "rollups": conn.execute(text("SELECT count(*) FROM window_rollups")).scalar_one(),
        }
    engine.dispose()
    return {name: int(value) for name, value in sizes.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench fleet", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a short run: 10 s, 100 seeded services, 20 checks")
    parser.add_argument("--hosts", type=int, default=8, help="simulated hosts, one client thread each (default 8)")
    parser.add_argument("--workloads", type=int, default=20, help="workloads per host (default 20)")
    parser.add_argument("--features", type=int, default=300, help="features per window (default 300)")
    parser.add_argument("--seconds", type=float, help="seconds of upload (default 60; 10 with --quick)")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers (default 4)")
    parser.add_argument("--seed-services", type=int, help="services seeded before the checks (default 1000)")
    parser.add_argument("--checks", type=int, help="sequential checks measured (default 200)")
    args = parser.parse_args(argv)
    seconds = min(args.seconds or (10.0 if args.quick else 60.0), MAX_SECONDS)
    seeded = args.seed_services if args.seed_services is not None else (100 if args.quick else 1000)
    checks = args.checks or (20 if args.quick else 200)
    cores = os.cpu_count() or 1
    print(f"{args.hosts} hosts x {args.workloads} workloads, {args.features}-feature windows, {seconds:g} s, "
          f"{args.workers} gunicorn workers, {cores} cores shared by client, server and Postgres", flush=True)
    with ThrowawayPostgres() as postgres:
        url = postgres.create_database("bench_fleet")
        migrate.upgrade(url)
        empty = storage(url)
        services = _fleet_services(args.hosts, args.workloads)
        token, check_token = fleet_tokens(url, services + [CHECK_SERVICE])
        with LiveServer(url, workers=args.workers) as server:
            pids, db_pids = server_pids(server), postgres_pids(postgres)
            tally = Tally()
            cpu, db_cpu = _cpu_seconds(pids), _cpu_seconds(db_pids)
            deadline = time.monotonic() + seconds
            threads = [threading.Thread(target=host, args=(server.url, token, n, args.workloads, args.features,
                                                            deadline, tally)) for n in range(args.hosts)]
            elapsed = run_all(threads)
            # Postgres forks a backend per new connection: count those started during the run too.
            cpu, db_cpu = _cpu_seconds(pids) - cpu, _cpu_seconds(postgres_pids(postgres)) - db_cpu
            loaded = storage(url)
            rate = tally.windows / elapsed
            print(f"ingest: {tally.windows} windows in {elapsed:.1f} s = {rate:.1f} windows/s; batch p50 "
                  f"{statistics.median(tally.latencies_ms or [0]):.0f} ms, p95 "
                  f"{percentile(tally.latencies_ms or [0], 0.95):.0f} ms; errors {len(tally.errors)}", flush=True)
            for message in sorted(set(tally.errors))[:3]:
                print(f"  e.g. {message}", flush=True)
            per_core = tally.windows / cpu if cpu else 0.0
            host_rate = args.workloads / WINDOW.total_seconds()
            print(f"server CPU {cpu:.1f} s ({cpu / elapsed:.2f} cores), Postgres CPU {db_cpu:.1f} s "
                  f"({db_cpu / elapsed:.2f} cores): {per_core:.0f} windows per server core-second", flush=True)
            print(f"hosts per server core: {per_core / host_rate:.0f} (a host of {args.workloads} workloads sends "
                  f"{host_rate:g} windows/s); with Postgres's CPU counted too: "
                  f"{tally.windows / (cpu + db_cpu) / host_rate if cpu + db_cpu else 0:.0f}", flush=True)
            stored = loaded["windows"] - empty["windows"]
            per_window = (loaded["windows_bytes"] - empty["windows_bytes"]) / max(1, stored)
            per_rollup = (loaded["rollups_bytes"] - empty["rollups_bytes"]) / max(1, loaded["rollups"])
            print(f"stored: {stored} window rows ({tally.windows} sent; the bound keeps <= {BOUND} steady per "
                  f"version and host), {loaded['rollups']} rollup rows; database grew "
                  f"{(loaded['database'] - empty['database']) / 2**20:.1f} MiB", flush=True)
            print(f"bytes: {per_window:.0f} per stored window -> {per_window * WINDOWS_PER_DAY / 2**20:.1f} MiB per "
                  f"workload-day without the bound; with it {per_window * (BOUND + 20) / 2**20:.2f} MiB per workload "
                  f"and host at most (120 steady + 20 start-up windows), plus rollups: 144 slots a day per version "
                  f"x {per_rollup:.0f} bytes = {144 * per_rollup / 2**20:.2f} MiB per version-day once compacted",
                  flush=True)
            seed_seconds = seed_fleet(url, seeded, args.features)
            seed_check_service(url, args.features)
            fleet = storage(url)
            print(f"seeded {seeded} services x {BOUND + 1} windows over 30 days through the writer in "
                  f"{seed_seconds:.0f} s; database {fleet['database'] / 2**20:.0f} MiB, {fleet['windows']} windows",
                  flush=True)
            run_checks(server.url, check_token, min(5, checks), pids)  # warm each worker's cache
            latencies, check_cpu, errors = run_checks(server.url, check_token, checks, pids)
            print(f"checks (30 windows a side): p50 {statistics.median(latencies or [0]):.0f} ms, p95 "
                  f"{percentile(latencies or [0], 0.95):.0f} ms over {len(latencies)}, errors {len(errors)}; "
                  f"{len(latencies) / check_cpu if check_cpu else 0:.1f} checks per server core-second", flush=True)
            for message in sorted(set(errors))[:3]:
                print(f"  e.g. {message}", flush=True)
    return 1 if tally.errors or errors else 0
