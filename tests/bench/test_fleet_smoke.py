"""`python -m bench fleet` for a few seconds: hosts upload batches through gunicorn to
Postgres, a few services are seeded, checks run, and every figure it promises is printed."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest


@pytest.mark.slow
def test_a_short_fleet_run_takes_every_window_keeps_each_stream_bounded_and_prints_hosts_per_core(postgres_server):
    # postgres_server: the run needs Postgres (the benchmark starts its own cluster), so skip or fail as the API tests do
    result = subprocess.run(
        [sys.executable, "-m", "bench", "fleet", "--hosts", "2", "--workloads", "3", "--seconds", "3",
         "--features", "50", "--workers", "2", "--seed-services", "2", "--checks", "3"],
        capture_output=True, text=True, timeout=600,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    sent = int(re.search(r"ingest: (\d+) windows in", output).group(1))
    assert sent > 0 and re.search(r"ingest: .*; errors 0$", output, re.M), output
    # every window is taken; each (service, version, host) then keeps at most the bound's
    # 120 steady windows plus its start-up one: 6 such streams here
    stored = int(re.search(r"stored: (\d+) window rows", output).group(1))
    assert 0 < stored <= min(sent, 2 * 3 * (120 + 1)), output
    assert re.search(r"hosts per server core: \d+", output), output
    assert re.search(r"checks \(30 windows a side\): p50 \d+ ms, p95 \d+ ms over 3, errors 0", output), output
    assert "MiB per workload-day" in output, output
