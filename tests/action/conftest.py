"""Fixtures for the Action's tests: the real gate server (gunicorn) over a seeded
database, a token, a GitHub REST stand-in, and the client run as a runner runs
it -- a clean interpreter that sees only action/ and its pinned dependencies."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import pytest

from gate_server.storage import migrate
from tests.action.fake_github import FakeGitHub
from tests.action.profiles import SERVICE, seed_rollout
from tests.support.live_server import LiveServer

ROOT = Path(__file__).resolve().parents[2]
ACTION_DIR = ROOT / "action"
GITHUB_TOKEN = "ghs_fakeWorkflowToken0123456789"
REPOSITORY = "acme/checkout"
PUSH_SHA = "a" * 40


def parse_github_output(text: str) -> dict[str, str]:
    """Read a $GITHUB_OUTPUT file the way the runner does (name=value and name<<DELIMITER)."""
    outputs: dict[str, str] = {}
    lines = text.split("\n")
    index = 0
    while index < len(lines):
        line = lines[index]
        if "<<" in line:
            name, delimiter = line.split("<<", 1)
            end = lines.index(delimiter, index + 1)
            outputs[name] = "\n".join(lines[index + 1 : end])
            index = end + 1
        else:
            if "=" in line:
                name, value = line.split("=", 1)
                outputs[name] = value
            index += 1
    return outputs


def _pip(*args: str) -> None:
    result = subprocess.run([sys.executable, "-m", "pip", *args, "--quiet", "--disable-pip-version-check"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"pip {args[0]} failed: {result.stderr[-2000:]}"


@pytest.fixture(scope="session")
def client_wheelhouse() -> Path:
    """The wheels of action/requirements.txt, fetched from PyPI once; later runs (and act's
    runner, through PIP_FIND_LINKS) install offline from here."""
    requirements = ACTION_DIR / "requirements.txt"
    digest = hashlib.sha256(requirements.read_bytes() + sys.version.encode()).hexdigest()[:12]
    wheelhouse = ROOT / "tests" / "artifacts" / f"action-wheels-{digest}"
    if not (wheelhouse / ".complete").exists():
        _pip("download", "--dest", str(wheelhouse), "-r", str(requirements))
        (wheelhouse / ".complete").touch()
    return wheelhouse


@pytest.fixture(scope="session")
def client_dependencies(client_wheelhouse, tmp_path_factory) -> Path:
    """action/requirements.txt installed with pip --target, as the action does on a bare runner."""
    target = tmp_path_factory.mktemp("action-deps")
    _pip("install", "--no-index", "--find-links", str(client_wheelhouse), "--target", str(target),
         "-r", str(ACTION_DIR / "requirements.txt"))
    return target


@pytest.fixture(scope="session")
def urllib3_126_dependencies(client_dependencies, tmp_path_factory) -> Path:
    """The pinned dependencies with urllib3 1.26 in place of the pinned 2.x: what the client
    imports on a runner whose own python3 ships urllib3 1.26 (Ubuntu 22.04's python3-urllib3)."""
    target = tmp_path_factory.mktemp("action-deps-urllib3-1.26")
    shutil.copytree(client_dependencies, target, dirs_exist_ok=True, ignore=shutil.ignore_patterns("urllib3*"))
    _pip("install", "--no-deps", "--target", str(target), "urllib3==1.26.20")
    version = subprocess.run([sys.executable, "-S", "-c", "import urllib3; print(urllib3.__version__)"],
                             env={"PYTHONPATH": str(target)}, capture_output=True, text=True, check=True)
    assert version.stdout.startswith("1.26."), version.stdout
    return target


@dataclass
class ClientRun:
    returncode: int
    stdout: str
    stderr: str
    outputs: dict[str, str]
    summary: str
    workspace: Path

    @property
    def log(self) -> str:
        return self.stdout + self.stderr

    def report(self) -> dict:
        return json.loads(Path(self.outputs["report"]).read_text())


@dataclass
class ActionRunner:
    """Runs `python -m gate_client` with the environment a GitHub runner gives it."""

    dependencies: Path
    workspace: Path
    github_api_url: str = "http://127.0.0.1:9"
    env: dict = field(default_factory=dict)

    def run(self, config_text: Optional[str] = None, timeout: float = 120, signal_after: Optional[float] = None,
            **inputs: str) -> ClientRun:
        """Run the client to its end, or send it SIGTERM after signal_after seconds (a cancelled workflow)."""
        temp = self.workspace.parent / f"{self.workspace.name}-runner-temp"
        temp.mkdir(exist_ok=True)
        output_file, summary_file = temp / "output.txt", temp / "summary.md"
        output_file.write_text("")
        summary_file.write_text("")
        if config_text is not None:
            (self.workspace / ".github").mkdir(exist_ok=True)
            (self.workspace / ".github" / "syscall-gate.yml").write_text(config_text)
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "GITHUB_WORKSPACE": str(self.workspace), "RUNNER_TEMP": str(temp),
            "GITHUB_OUTPUT": str(output_file), "GITHUB_STEP_SUMMARY": str(summary_file),
            "GITHUB_API_URL": self.github_api_url, "GITHUB_SERVER_URL": "https://github.example",
            "GITHUB_REPOSITORY": REPOSITORY, "GITHUB_SHA": PUSH_SHA, "GITHUB_EVENT_NAME": "push",
            "GITHUB_RUN_ID": "4242",
            "SYSCALL_GATE_GITHUB_TOKEN": GITHUB_TOKEN, "SYSCALL_GATE_SERVICE": SERVICE,
            "SYSCALL_GATE_CONFIG": ".github/syscall-gate.yml",
            **self.env,
        }
        for name, value in inputs.items():
            env["SYSCALL_GATE_" + name.upper()] = value
        # As action.yml runs it: only the action's own directory and its pinned dependencies are importable
        # (-I -S: no site-packages, no PYTHONPATH, no workspace), proof it needs nothing of this repo.
        command = [sys.executable, "-I", "-S", str(ACTION_DIR / "run_client.py"), str(self.dependencies)]
        process = subprocess.Popen(command, cwd=self.workspace, env=env,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if signal_after is not None:
            time.sleep(signal_after)
            process.send_signal(signal.SIGTERM)
        try:
            stdout, stderr = process.communicate(timeout=timeout)
        finally:
            if process.poll() is None:
                process.kill()
        return ClientRun(process.returncode, stdout, stderr,
                         parse_github_output(output_file.read_text()), summary_file.read_text(), self.workspace)


@pytest.fixture
def fake_github():
    with FakeGitHub(GITHUB_TOKEN) as fake:
        yield fake


@pytest.fixture
def action_runner(client_dependencies, tmp_path, fake_github) -> ActionRunner:
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    return ActionRunner(client_dependencies, workspace, github_api_url=fake_github.url)


def create_token(database_url: str, service: str = SERVICE, scope: str = "check", description: str = "") -> str:
    # python -m from this tree: the shared venv's gate-server script imports the main checkout's package.
    described = ["--description", description] if description else []
    result = subprocess.run(
        [sys.executable, "-m", "gate_server.cli", "tokens", "create", "--service", service, "--scope", scope,
         *described, "--db", database_url],
        capture_output=True, text=True, timeout=60, cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def token_actor(secret: str, database_url: str) -> str:
    """How the gate names what a token did (`token:<id>`, its stable id)."""
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from gate_server.services.tokens import hash_token
    from gate_contract.engine import make_engine
    from gate_contract.models import ApiToken

    engine = make_engine(database_url)
    try:
        with Session(engine) as session:
            token_id = session.execute(select(ApiToken.id).where(
                ApiToken.token_hash == hash_token(secret))).scalar_one()
    finally:
        engine.dispose()
    return f"token:{token_id}"


@dataclass
class Gate:
    url: str
    token: str
    database_url: str
    server: LiveServer


def start_gate(database_url: str, public_url: bool = False) -> Gate:
    """The seeded gate; public_url: it links its checks absolutely (GATE_PUBLIC_URL), as the dashboard needs."""
    migrate.upgrade(database_url)
    seed_rollout(database_url)
    token = create_token(database_url)
    server = LiveServer(database_url, workers=2)
    if public_url:
        server.extra_env["GATE_PUBLIC_URL"] = server.url
    server.start()
    return Gate(server.url, token, database_url, server)


@pytest.fixture
def gate(sqlite_url):
    """The real gate server under gunicorn, over a seeded SQLite database."""
    started = start_gate(sqlite_url)
    yield started
    started.server.stop()
