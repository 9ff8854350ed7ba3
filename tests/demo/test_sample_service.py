"""demo-shop, the demo's sample service: each version behaves as the demo claims,
observed from outside through real processes, real HTTP and real files."""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from examples.load import LoadGenerator
from examples.processes import free_port
from examples.sample_service import BAD_REPORT_EVERY, prepare_state_dir

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def state_dir(tmp_path):
    prepare_state_dir(tmp_path / "shop")
    return tmp_path / "shop"


@pytest.fixture
def start_shop(state_dir, tmp_path):
    started = []

    def start(version: str, port: int | None = None) -> int:
        port = port or free_port()
        ready = tmp_path / f"ready-{version}-{len(started)}"
        process = subprocess.Popen(
            [sys.executable, "-m", "examples.sample_service", "--version", version,
             "--state-dir", str(state_dir), "--port", str(port), "--ready-file", str(ready)],
            cwd=REPO_ROOT)
        started.append(process)
        deadline = time.monotonic() + 15
        while not ready.exists():
            assert process.poll() is None, f"sample service {version} exited {process.returncode}"
            assert time.monotonic() < deadline, f"sample service {version} did not start"
            time.sleep(0.05)
        return port

    yield start
    for process in started:
        process.terminate()
        process.wait(timeout=10)


def get(port: int, path: str):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
        return response.status, response.headers, response.read()


@pytest.mark.parametrize("version", ["v1", "v2", "v2-bad"])
def test_every_version_serves_items_and_reports(start_shop, state_dir, version):
    port = start_shop(version)
    assert get(port, "/items/3")[0] == 200
    assert get(port, "/report")[0] == 200
    assert get(port, "/healthz")[2].count(version.encode()) == 1
    assert (state_dir / "cache" / "item-3.json").is_file()
    assert "/items/3" in (state_dir / "logs" / "access.log").read_text()


def test_healthy_v2_changes_the_response_format_not_the_data(start_shop):
    v1, v2 = start_shop("v1"), start_shop("v2")
    assert get(v1, "/items/7")[2] != get(v2, "/items/7")[2]
    assert b'"api_version": 2' in get(v2, "/items/7")[2]
    assert b'"id": 7' in get(v1, "/items/7")[2] and b'"id": 7' in get(v2, "/items/7")[2]


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_good_versions_never_spawn_a_shell(start_shop, state_dir, version):
    port = start_shop(version)
    headers = [get(port, "/report")[1] for _ in range(2 * BAD_REPORT_EVERY)]
    assert all("X-Diagnostics" not in h for h in headers)
    assert not (state_dir / "diagnostics.log").exists()


def test_misbehaving_v2_reads_credentials_and_runs_a_shell_on_some_reports(start_shop, state_dir):
    port = start_shop("v2-bad")
    headers = [get(port, "/report")[1] for _ in range(2 * BAD_REPORT_EVERY)]
    triggered = [h["X-Diagnostics"] for h in headers if "X-Diagnostics" in h]
    assert triggered == ["shell-exit=0", "shell-exit=0"]
    # The marker is written by /bin/sh itself, so it proves the shell ran.
    lines = (state_dir / "diagnostics.log").read_text().splitlines()
    assert len(lines) == 2 and all(line.startswith("diagnostics accounts=") for line in lines)
    assert get(port, "/items/1")[1].get("X-Diagnostics") is None  # items never trigger it


def test_instances_share_one_port_and_the_kernel_splits_the_load(start_shop):
    port = start_shop("v1")
    start_shop("v2", port=port)
    result = LoadGenerator(port, rate_per_second=200, seconds=10, max_requests=120).start().wait()
    assert result.requests == 120 and result.errors == 0
    assert result.versions["v1"] > 10 and result.versions["v2"] > 10


def test_load_stops_at_its_time_limit(start_shop):
    port = start_shop("v1")
    started = time.monotonic()
    result = LoadGenerator(port, rate_per_second=20, seconds=1.0).start().wait()
    assert time.monotonic() - started < 3
    assert 5 <= result.requests <= 40
