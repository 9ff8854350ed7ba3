"""The images `make images` builds (scripts/build-images.sh, from Debian packages and the
project's wheel), run with the real dockerd: the server image migrates and serves on the
real Postgres and judges checks over HTTP; the agent image, in the host's pid namespace with
the DaemonSet's few capabilities, records a labelled container into the real Postgres. `make images` runs once
per module (a first build takes minutes: docs/operations.md#images)."""

from __future__ import annotations

import ast
import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import time
import tomllib
import urllib.request
import uuid
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from sqlalchemy.orm import Session

from gate_contract.engine import make_engine
from gate_server.storage import migrate
from gate_server.storage.profiles import load_profile
from tests.discovery.dockerd import DaemonFailed, Dockerd, ensure_busybox_image, static_busybox
from tests.ops.seed import seed_recording
from tests.support.ports import free_port
from tests.support.requirements import unavailable

ROOT = Path(__file__).resolve().parents[2]
VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
SERVER = f"syscall-gate-server:{VERSION}"
AGENT = f"syscall-gate-agent:{VERSION}"
STEADY = {("syscall", "read"): 2400, ("syscall", "write"): 2100, ("syscall", "epoll_wait"): 900,
          ("file", "/etc/web/config.yml:r"): 20, ("connect", "inet:10.0.0.5:5432"): 12}


def docker(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    if os.geteuid() != 0 or not shutil.which("mmdebstrap") or not static_busybox():
        unavailable("docker", "building images needs root, mmdebstrap and busybox-static (`make setup`)")
    daemon = Dockerd.host(tmp_path_factory.mktemp("dockerd"))
    try:
        daemon.start()
    except DaemonFailed as exc:
        unavailable("docker", str(exc))
    build = subprocess.run(["make", "images"], cwd=ROOT, capture_output=True, text=True, timeout=1800)
    assert build.returncode == 0, f"{build.stdout[-3000:]}\n{build.stderr[-3000:]}"
    yield daemon
    daemon.stop()


def test_make_images_skips_an_image_whose_inputs_are_unchanged(images):
    again = subprocess.run(["bash", "scripts/build-images.sh"], cwd=ROOT, capture_output=True, text=True,
                           timeout=300)
    assert again.returncode == 0, again.stderr
    assert f"{SERVER} is up to date" in again.stdout and f"{AGENT} is up to date" in again.stdout


def test_the_kustomize_base_names_the_images_make_images_tags(images):
    kustomization = yaml.safe_load((ROOT / "docs/deploy/kubernetes/base/kustomization.yaml").read_text())
    named = {f"{entry['name']}:{entry['newTag']}" for entry in kustomization["images"]}
    assert named == {SERVER, AGENT}
    for reference in named:
        assert docker("image", "inspect", reference).returncode == 0, reference


def _wait_until_ready(url: str, container: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"{url} never answered: {docker('logs', container).stderr[-3000:]}")
        time.sleep(0.3)


def _check(base: str, token: str, canary: str) -> dict:
    body = json.dumps({"service": "web", "baseline_version": "v1", "canary_version": canary}).encode()
    request = urllib.request.Request(f"{base}/api/v1/checks", data=body, method="POST",
                                     headers={"Authorization": f"Bearer {token}",
                                              "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as answer:
        return json.loads(answer.read())


def test_the_server_image_migrates_and_serves_as_a_user_and_judges_checks_over_http(images, postgres_url):
    # --network host: the session's Postgres listens on loopback only
    database = ["--network", "host", "-e", f"GATE_DATABASE_URL={postgres_url}"]
    upgrade = docker("run", "--rm", *database, SERVER, "db", "upgrade")
    assert upgrade.returncode == 0, upgrade.stderr
    created = docker("run", "--rm", *database, SERVER, "tokens", "create", "--service", "web", "--scope", "check")
    assert created.returncode == 0, created.stderr
    token = created.stdout.split()[0]

    now = datetime.now(timezone.utc)
    engine = make_engine(postgres_url)
    seed_recording(engine, "web", "v1", [dict(STEADY) for _ in range(20)], start=now - timedelta(hours=2))
    seed_recording(engine, "web", "v2", [dict(STEADY) for _ in range(12)], role="canary",
                   start=now - timedelta(minutes=30))
    seed_recording(engine, "web", "v3", [{**STEADY, ("exec", "/bin/sh"): 3} for _ in range(12)], role="canary",
                   start=now - timedelta(minutes=30))
    engine.dispose()

    port = free_port()
    name = f"sg-server-{uuid.uuid4().hex[:8]}"
    # as the kustomize base's Deployment runs it: read-only root, writable data dir and /tmp
    served = docker("run", "-d", "--name", name, *database, "--read-only", "--cap-drop", "ALL",
                    "--security-opt", "no-new-privileges", "--tmpfs", "/tmp",
                    "--tmpfs", "/var/lib/syscall-gate:uid=10001,gid=10001",
                    "-e", f"GATE_BIND=127.0.0.1:{port}", "-e", "PROMETHEUS_MULTIPROC_DIR=/tmp/metrics",
                    SERVER, "serve", "--workers", "2")
    assert served.returncode == 0, served.stderr
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_until_ready(f"{base}/readyz", name)
        assert docker("exec", name, "id", "-u").stdout.strip() == "10001"
        assert _check(base, token, "v2")["verdict"] == "pass"
        paused = _check(base, token, "v3")
        assert paused["verdict"] == "pause"
        assert ("exec", "/bin/sh") in {(a["kind"], a["key"]) for a in paused["anomalies"]}
    finally:
        docker("rm", "-f", name)


def test_the_agent_image_carries_bcc_and_none_of_the_servers_dependencies(images):
    probe = ("import importlib.util as u, bcc, host_probe.kernel.loader as l; "
             "print(l.PROBE_SOURCE.is_file(), [m for m in ('flask', 'gunicorn', 'scipy', 'alembic', 'gate_server')"
             " if u.find_spec(m)])")
    result = docker("run", "--rm", "--network", "none", "--entrypoint", "/opt/syscall-gate/bin/python", AGENT,
                    "-c", probe)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[0] == "True []"


def _features(database_url: str, service: str, version: str) -> Counter:
    engine = make_engine(database_url)
    try:
        with Session(engine) as session:
            counts: Counter = Counter()
            for window in load_profile(session, service, version).windows:
                counts.update(window.counts)
            return counts
    finally:
        engine.dispose()


def test_the_agent_image_records_a_labelled_container(images, postgres_url, tmp_path):
    migrate.upgrade(postgres_url)
    busybox = ensure_busybox_image(images.client())
    workload = docker("run", "-d", "--network", "none", "--label", "syscall-gate.service=shop",
                      "--label", "syscall-gate.role=baseline", "--label", "org.opencontainers.image.version=v7",
                      busybox, "/bin/sh", "-c",
                      "while :; do /bin/busybox cat /etc/hostname > /dev/null; /bin/sleep 0.1; done")
    assert workload.returncode == 0, workload.stderr
    config = tmp_path / "agent.yml"
    config.write_text(yaml.safe_dump({"containers": {"enabled": True}, "window": "1s", "poll_interval": "0.3s",
                                      "metrics_address": ""}))
    agent = f"sg-agent-{uuid.uuid4().hex[:8]}"
    # As the DaemonSet runs it, not privileged: the host's pids and cgroups, its kernel headers,
    # BTF and tracefs read-only, and few capabilities. SYS_ADMIN stands for BPF + PERFMON, which
    # docker.io 20.10 does not know; no SYS_RESOURCE (this host's bounding set lacks it, and
    # kernels since 5.11 charge maps to the memory cgroup, not to the memlock limit).
    mounts = [f"--volume={path}:{path}:ro" for path in ("/lib/modules", "/usr/src", "/sys/fs/cgroup",
                                                         "/sys/kernel/btf", "/sys/kernel/tracing")
              if Path(path).exists()]
    capabilities = ["--cap-drop", "ALL", "--cap-add", "SYS_ADMIN", "--cap-add", "SYS_PTRACE",
                    "--cap-add", "DAC_READ_SEARCH", "--security-opt", "seccomp=unconfined"]
    started = docker("run", "-d", "--name", agent, *capabilities, "--pid", "host", "--cgroupns", "host",
                     "--network", "host", *mounts, "--volume", "/var/run/docker.sock:/var/run/docker.sock",
                     "--volume", f"{config}:/etc/syscall-gate/agent.yml:ro",
                     "-e", f"GATE_DATABASE_URL={postgres_url}",
                     AGENT, "agent", "--config", "/etc/syscall-gate/agent.yml")
    try:
        assert started.returncode == 0, started.stderr
        deadline = time.monotonic() + 240   # bcc compiles the programs as the agent starts
        while ("file", "/etc/hostname:r") not in _features(postgres_url, "shop", "v7"):
            state = docker("inspect", "-f", "{{.State.Running}}", agent).stdout.strip()
            assert state == "true" and time.monotonic() < deadline, docker("logs", agent).stderr[-4000:]
            time.sleep(0.5)
        stopped = docker("stop", "--time", "30", agent)
        assert stopped.returncode == 0
        assert docker("inspect", "-f", "{{.State.ExitCode}}", agent).stdout.strip() == "0", \
            docker("logs", agent).stderr[-4000:]
        assert _features(postgres_url, "shop", "v7")[("exec", "/bin/busybox")] >= 1
    finally:
        docker("rm", "-f", agent)
        docker("rm", "-f", workload.stdout.strip())


def _third_party_imports(package: Path) -> set[str]:
    names = set()
    for source in package.rglob("*.py"):
        for node in ast.walk(ast.parse(source.read_text())):
            if isinstance(node, ast.Import):
                names.update(alias.name.partition(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.partition(".")[0])
    first_party = {"host_probe", "gate_contract", "__future__"}
    return {name for name in names if name not in sys.stdlib_module_names and name not in first_party}


def test_the_agent_images_requirements_are_what_the_agent_imports():
    """images/agent-requirements.txt, the agent image's dependencies, names each distribution
    the agent imports (bcc comes from Debian) and nothing else."""
    listed = {canonicalize_name(Requirement(line).name) for line in
              (ROOT / "images/agent-requirements.txt").read_text().splitlines()
              if line.strip() and not line.startswith("#")}
    distributions = importlib.metadata.packages_distributions()
    imported = set()
    for module in _third_party_imports(ROOT / "host_probe") | _third_party_imports(ROOT / "gate_contract"):
        if module != "bcc":
            imported.update(canonicalize_name(name) for name in distributions[module])
    # the Postgres driver is loaded by SQLAlchemy for a postgresql:// URL, never imported by name
    assert listed == imported | {"psycopg2-binary"}
