"""The files in docs/deploy/ work where the docs say they do: the nginx config passes
Debian 12's `nginx -t`, the systemd units pass `systemd-analyze verify` and the server's
scores at most 4.0 in `systemd-analyze security`, the prune unit finds the default database."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "docs" / "deploy"


def test_the_license_is_the_apache_license_pyproject_names():
    assert "Apache License" in (ROOT / "LICENSE").read_text()[:200]
    assert 'license = { text = "Apache-2.0" }' in (ROOT / "pyproject.toml").read_text()


@pytest.mark.skipif(not shutil.which("nginx") or not shutil.which("openssl"), reason="needs nginx and openssl")
def test_nginx_config_passes_nginx_t(tmp_path):
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
                    "/CN=gate.example.com", "-keyout", tmp_path / "privkey.pem", "-out", tmp_path / "fullchain.pem"],
                   check=True, capture_output=True)
    site = (DEPLOY / "nginx.conf").read_text().replace("/etc/letsencrypt/live/gate.example.com", str(tmp_path))
    (tmp_path / "site.conf").write_text(site)
    # The site goes where Debian's nginx.conf includes sites-enabled: inside http {}.
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\nevents {{}}\n"
        f"http {{\n access_log off;\n include {tmp_path}/site.conf;\n}}\n")
    done = subprocess.run(["nginx", "-t", "-e", str(tmp_path / "error.log"), "-p", str(tmp_path),
                           "-c", str(tmp_path / "nginx.conf")], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    assert "syntax is ok" in done.stderr and "[warn]" not in done.stderr, done.stderr


def security_exposure(unit: Path) -> float:
    done = subprocess.run(["systemd-analyze", "security", "--offline=yes", "--no-pager", str(unit)],
                          capture_output=True, text=True, timeout=60)
    match = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", done.stdout + done.stderr)
    assert match, done.stdout + done.stderr
    return float(match.group(1))


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="needs systemd-analyze")
@pytest.mark.parametrize("unit, most", [("syscall-gate-server.service", 4.0), ("syscall-gate-prune.service", 4.0)])
def test_the_server_units_are_hardened(unit, most):
    assert security_exposure(DEPLOY / unit) <= most


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="needs systemd-analyze")
def test_the_prune_unit_reads_the_database_the_server_writes():
    server = (DEPLOY / "syscall-gate-server.service").read_text()
    prune = (DEPLOY / "syscall-gate-prune.service").read_text()
    data_dir = re.search(r"^Environment=GATE_DATA_DIR=(\S+)$", server, re.M).group(1)
    assert f"Environment=GATE_DATA_DIR={data_dir}" in prune
    state_dir = re.search(r"^StateDirectory=(\S+)$", server, re.M).group(1)
    assert data_dir == f"/var/lib/{state_dir}" and f"StateDirectory={state_dir}" in prune
