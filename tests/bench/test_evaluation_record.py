"""The evaluation recorder waits for the probe to launch the service it records (the probe
compiles first: a minute or more under the VM's emulation) before the service's ready timeout."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from bench.evaluation_record import RecordingFailed, wait_for_launch


def test_waits_until_the_process_has_started_a_child_and_not_before():
    # as `record -- CMD` does: work first (the compile), then the command
    parent = subprocess.Popen([sys.executable, "-c",
                               "import subprocess, sys, time; time.sleep(1.0); "
                               "subprocess.run([sys.executable, '-c', 'import time; time.sleep(5)'])"])
    try:
        began = time.monotonic()
        wait_for_launch(parent, timeout=20)
        assert 1.0 <= time.monotonic() - began < 10
    finally:
        parent.kill()
        parent.wait()


def test_a_probe_that_exits_before_it_launches_anything_is_a_failed_recording():
    parent = subprocess.Popen([sys.executable, "-c", "raise SystemExit(2)"])
    with pytest.raises(RecordingFailed, match="exited 2 before it started the service"):
        wait_for_launch(parent, timeout=20)


def test_one_agent_records_an_attached_baseline_and_a_fresh_canary_without_compiling_again(ebpf, tmp_path,
                                                                                           monkeypatch):
    # `--through agent` (what makes the whole set affordable in the VM): the real agent, the
    # real static workload, each scenario in a cgroup of its own
    from bench import evaluation_agent_scenarios
    from bench.evaluation_agent_scenarios import ScenarioAgent
    from bench.evaluation_data import BASELINES, Scenario, profile_from_json, read_fixture
    from bench.evaluation_record import RecordOptions
    from bench.workloads.services import StaticWorkload

    options = RecordOptions(duration=9.0, window=3.0, startup=3.0)
    fixtures = tmp_path / "fixtures"
    stops = []  # when each service was stopped (the recorder's own stop, timed)
    stop_group = evaluation_agent_scenarios._stop_group
    monkeypatch.setattr(evaluation_agent_scenarios, "_stop_group",
                        lambda process: (stops.append(time.time()), stop_group(process))[1])
    with ScenarioAgent(options, tmp_path) as recorder:
        agent_pid = recorder.agent.process.pid
        recorder.record(StaticWorkload(), BASELINES[0], fixtures)
        recorder.record(StaticWorkload(), Scenario("benign-fresh"), fixtures)
        assert recorder.agent.process.pid == agent_pid and recorder.agent.process.poll() is None
    baseline, canary = (read_fixture("static", name, fixtures) for name in ("baseline-1", "benign-fresh"))
    assert (baseline["version"], canary["version"]) == ("v1", "v2")  # as `record` stores them, not the agent's
    assert baseline["recording"]["through"] == canary["recording"]["through"] == "agent"
    baseline_windows = profile_from_json(baseline).windows
    canary_windows = profile_from_json(canary).windows
    # attached past its start-up span (3 s + 2 s): no start-up windows; the canary's start was seen
    assert baseline["recording"]["attached_after_start_s"] >= 5.0
    assert not any(w.startup for w in baseline_windows) and len(baseline_windows) >= 2
    assert canary_windows[0].startup and not canary_windows[-1].startup
    # its own exec is counted only where its start is observed
    assert any(kind == "exec" for kind, _ in canary_windows[0].counts)
    assert not any(kind == "exec" for w in baseline_windows for kind, _ in w.counts)
    # each recording closed before its service was stopped, as a check reads a canary that
    # runs: the fentry set's one false pause was postgres's shutdown in a canary's last window
    # (exit_group, postmaster.pid rewritten "stopping")
    for windows, stopped in zip((baseline_windows, canary_windows), stops):
        assert windows[-1].ended_at.timestamp() <= stopped, (windows[-1].ended_at, stopped)


def test_the_agents_own_run_beside_the_scenarios_agent_waits_for_its_own_agent(ebpf, tmp_path):
    # `--through agent` then `--scenario agent` in one work directory: the agent run must not
    # take the scenarios' agent's status file for its own (it did: it stopped its own agent
    # mid-compile, and that run failed with "the agent exited -15")
    from bench.evaluation_agent import AgentProcess, _write_config
    from bench.evaluation_agent_scenarios import ScenarioAgent
    from bench.evaluation_record import RecordOptions
    from gate_server.storage import migrate

    url = f"sqlite:///{tmp_path / 'other.db'}"
    migrate.upgrade(url)
    _write_config(tmp_path / "agent.yml", [], 3.0, 3.0, tmp_path / "status.json")
    with ScenarioAgent(RecordOptions(window=3.0, startup=3.0), tmp_path):
        other = AgentProcess(tmp_path / "agent.yml", url, tmp_path, tmp_path / "other.log", [])
        other.start()
        try:
            assert json.loads((tmp_path / "status.json").read_text())["pid"] == other.process.pid
        finally:
            other.stop()
