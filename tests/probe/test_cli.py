"""Bad input exits 2 with one clear line; `doctor` reports on this host."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from host_probe.commands import doctor
from tests.probe.conftest import REPO, host_probe, migrated

BASE = ["record", "--service", "web", "--version", "v1"]


@pytest.mark.parametrize("args, message", [
    (BASE, "choose exactly one scope"),
    (BASE + ["--pid", "999999999"], "no such running process"),
    (BASE + ["--cgroup", "/nonexistent/cgroup"], "not a directory"),
    (BASE + ["--cgroup", "/tmp"], "not a cgroup v2 directory"),
    (BASE + ["--ringbuf-pages", "3", "--", "true"], "power of two"),
    (BASE + ["--", "no-such-program-xyz"], "command not found"),
    (BASE + ["--db", "nonsense://", "--", "true"], "database URL"),
])
def test_bad_input_exits_2_with_one_line(args, message):
    result = host_probe(*args)
    assert result.returncode == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


@pytest.mark.parametrize("url", [
    "postgresql://gate:s3cret@127.0.0.1/gate",
    "postgresql://gate@127.0.0.1/gate?password=s3cret",
])
def test_a_password_in_db_is_refused_with_one_line(url):
    result = host_probe(*BASE, "--db", url, "--", "true")
    assert result.returncode == 2
    assert result.stderr == ("host-probe: error: --db carries a password, which every user of this host can read "
                             "(ps): put the URL in GATE_DATABASE_URL or in a file of mode 0600 named by --db-file\n")


def test_a_db_file_others_may_read_is_refused(tmp_path):
    url_file = tmp_path / "db-url"
    url_file.write_text("postgresql://gate:s3cret@127.0.0.1/gate\n")
    url_file.chmod(0o644)
    result = host_probe("replay", "--db-file", str(url_file), "--spool", str(tmp_path / "spool"))
    assert result.returncode == 2
    assert result.stderr == (f"host-probe: error: --db-file {url_file}: mode 0644 lets other users read it; "
                             f"chmod 600 {url_file}\n")


def test_the_database_url_is_read_from_a_0600_db_file(tmp_path):
    db_url = migrated(f"sqlite:///{tmp_path / 'gate.db'}")
    url_file = tmp_path / "db-url"
    url_file.write_text(db_url + "\n")
    url_file.chmod(0o600)
    result = host_probe("replay", "--db-file", str(url_file), "--spool", str(tmp_path / "spool"))
    assert result.returncode == 0, result.stderr
    assert "replayed 0 spool files" in result.stdout


def test_bad_duration_is_refused():
    result = host_probe(*BASE, "--duration", "soon", "--", "true")
    assert result.returncode == 2
    assert "invalid duration" in result.stderr


def test_database_without_schema_is_refused(tmp_path):
    result = host_probe(*BASE, "--db", f"sqlite:///{tmp_path / 'empty.db'}", "--", "true")
    assert result.returncode == 2
    assert "gate-server db upgrade" in result.stderr


def test_doctor_says_this_host_can_record(ebpf):
    result = host_probe("doctor")
    assert result.returncode == 0, result.stdout
    for name in ("kernel", "architecture", "BTF", "tracepoints", "kernel headers", "privileges", "bcc",
                 "syscall table"):
        assert any(line.startswith("ok") and name in line for line in result.stdout.splitlines()), name


def test_doctor_fails_and_says_how_to_fix_missing_headers(capsys):
    checks = [doctor.check_headers("0.0.0-not-this-kernel"), doctor.check_bcc()]
    assert doctor.report(checks, sys.stdout) == 1
    out = capsys.readouterr().out
    assert "FAIL kernel headers" in out
    assert "fix: install linux-headers" in out
    assert "recording cannot work" in out


def test_old_kernel_is_refused():
    assert not doctor.check_kernel("4.19.0").ok
    assert doctor.check_kernel("6.1.0-13-amd64").ok


def test_replay_with_nothing_spooled_succeeds(tmp_path):
    db_url = migrated(f"sqlite:///{tmp_path / 'gate.db'}")
    result = host_probe("replay", "--db", db_url, "--spool", str(tmp_path / "spool"))
    assert result.returncode == 0



def _as_nobody(*args) -> subprocess.CompletedProcess:
    return subprocess.run(["runuser", "-u", "nobody", "--", sys.executable, "-m", "host_probe.commands.cli", *args],
                          capture_output=True, text=True, timeout=60, cwd=REPO)


def test_unprivileged_doctor_reports_failures_without_a_traceback(ebpf):
    result = _as_nobody("doctor")
    assert result.returncode != 0
    assert "Traceback" not in result.stdout + result.stderr
    assert "FAIL privileges" in result.stdout
    assert "fix:" in result.stdout


def test_unprivileged_record_is_refused_in_one_line(ebpf):
    import tempfile

    shared = tempfile.mkdtemp(prefix="syscall-gate-nobody-")
    try:
        os.chmod(shared, 0o777)
        db = os.path.join(shared, "g.db")
        migrated(f"sqlite:///{db}")
        os.chmod(db, 0o666)
        result = _as_nobody(*BASE, "--db", f"sqlite:///{db}", "--spool", os.path.join(shared, "spool"),
                            "--duration", "2s", "--", "true")
    finally:
        shutil.rmtree(shared, ignore_errors=True)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "root" in result.stderr


def _as_i686(*args) -> subprocess.CompletedProcess:
    """The real tools under a personality whose `uname -m` is i686: a machine the
    probe maps no argument registers for, and for which bcc has no built-in
    syscall table. bcc then runs auditd's `ausyscall`; an empty PATH makes sure it
    is not found, whether or not this host has auditd."""
    return subprocess.run([shutil.which("setarch"), "i686", sys.executable, "-m", "host_probe.commands.cli", *args],
                          capture_output=True, text=True, timeout=60, cwd=REPO, env={**os.environ, "PATH": ""})


def test_doctor_refuses_an_unmapped_architecture_and_says_what_to_do(ebpf):
    result = _as_i686("doctor")
    assert result.returncode == 1
    assert "Traceback" not in result.stdout + result.stderr
    assert "FAIL architecture    i686" in result.stdout
    assert "record_detail() of bpf/probe.bpf.c" in result.stdout
    assert "FAIL syscall table" in result.stdout
    assert "fix: apt-get install auditd" in result.stdout


def test_doctor_names_the_syscall_table_it_uses(ebpf):
    check = doctor.check_syscall_table()
    assert check.ok, check.found
    assert int(check.found.split()[0]) > 250  # bcc's x86_64 table names 335; a partial table fails here


def test_record_without_a_syscall_table_is_refused_in_one_line(ebpf, tmp_path):
    db_url = migrated(f"sqlite:///{tmp_path / 'gate.db'}")
    result = _as_i686(*BASE, "--db", db_url, "--spool", str(tmp_path / "spool"), "--", shutil.which("true"))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]
    assert "no syscall table for i686" in result.stderr and "auditd" in result.stderr
