"""The demo's gate server: migrate the embedded database, run it under gunicorn, mint a token."""

from __future__ import annotations

import json
import shutil
import sys
import urllib.error
import urllib.request
from pathlib import Path

from examples.processes import Child, DemoError, ProcessGroup, free_port, wait_for

SERVER_START_SECONDS = 60
SERVER_WORKERS = 2  # the probes and the service share this host's CPUs during the demo


def tool(name: str) -> list[str]:
    """The console script installed next to this interpreter (the project's venv)."""
    path = Path(sys.executable).parent / name
    if path.exists():
        return [str(path)]
    found = shutil.which(name)
    if found:
        return [found]
    raise DemoError(f"`{name}` is not installed in {Path(sys.executable).parent}: run `make setup`")


def http_json(url: str, timeout: float = 5.0, body: dict | None = None, token: str = "") -> tuple[int, dict]:
    """(status, JSON body) of a GET, or of a POST of `body`; status 0 when nothing answered."""
    request = urllib.request.Request(url, data=json.dumps(body).encode() if body is not None else None,
                                     headers={"Content-Type": "application/json"} if body is not None else {})
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        try:
            return exc.code, json.loads(exc.read() or b"{}")
        except ValueError:
            return exc.code, {}
    except (urllib.error.URLError, OSError, ValueError):
        return 0, {}


class GateServer:
    def __init__(self, group: ProcessGroup):
        self.group = group
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.child: Child | None = None

    def migrate(self) -> str:
        output = self.group.run("gate-server-db-upgrade", tool("gate-server") + ["db", "upgrade"],
                                timeout=120)
        return output.strip().splitlines()[-1] if output.strip() else "migrated"

    def start(self) -> None:
        self.child = self.group.start(
            "gate-server", tool("gate-server") + ["serve", "--bind", f"127.0.0.1:{self.port}",
                                           "--workers", str(SERVER_WORKERS)])
        wait_for(lambda: http_json(self.base_url + "/readyz", timeout=2)[0] == 200,
                 SERVER_START_SECONDS, f"the gate server to answer {self.base_url}/readyz",
                 child=self.child, interval=0.3)

    def create_token(self, service: str, description: str = "demo: the Action's check token",
                     scope: str = "check") -> str:
        output = self.group.run("gate-server-token", tool("gate-server") + [
            "tokens", "create", "--service", service, "--scope", scope,
            "--description", description], timeout=60)
        token = extract_token(output)
        if not token:
            raise DemoError("`gate-server tokens create` printed no token "
                            f"(output: {output.strip()[:200]!r})")
        return token

    def decide(self, check_id: int, token: str, decision: str, reason: str) -> dict:
        """A person's decision on a check, through the API as the dashboard's form makes it."""
        status, body = http_json(f"{self.base_url}/api/v1/checks/{check_id}/decision",
                                 body={"decision": decision, "reason": reason}, token=token, timeout=30)
        if status != 201:
            raise DemoError(f"the decision on check {check_id} was refused: {status} {body.get('error', body)}")
        return body

    def running(self) -> bool:
        return self.child is not None and self.child.running()


def extract_token(output: str) -> str:
    """The secret is printed once; accept it alone on a line or after a label ("token: ...")."""
    for line in output.splitlines():
        words = line.strip().split()
        if len(words) == 1 and len(words[0]) >= 16:
            return words[0]
    for line in output.splitlines():
        words = line.strip().split()
        if words and words[0].rstrip(":").lower() in ("token", "secret") and len(words[-1]) >= 16:
            return words[-1]
    return ""
