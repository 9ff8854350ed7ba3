"""Lineage under the real probe: a canary whose python3 spawns /bin/sh, which runs
/usr/bin/id and reads a file, reads as one group headed by the shell's new exec, with
/usr/bin/id as its child: not as a list of everything the shell and id did."""

from __future__ import annotations

import os
import sys
from collections import defaultdict

from tests.probe.conftest import PYTHON, gate_check, host_probe, migrated, read_profile, record_args

CONFIG = {"sufficiency": {"min_windows": 3, "min_syscalls": 100}}
# A small service loop: reads its file every 0.2 s for 4 s; the canary also runs a shell each time.
SERVICE = """
import subprocess, sys, time
end = time.monotonic() + 4
while time.monotonic() < end:
    with open(sys.argv[1]) as f:
        f.read()
    if sys.argv[2] == "spawn":
        subprocess.run(["/bin/sh", "-c", "/usr/bin/id > /dev/null; read line < " + sys.argv[3]], check=True)
    time.sleep(0.2)
"""


def _record(db_url, tmp_path, version, *args):
    result = host_probe(*record_args(db_url, tmp_path / f"spool-{version}", version, "--role",
                                     "baseline" if version == "v1" else "canary", "--", PYTHON, "-c", SERVICE, *args))
    assert result.returncode == 0, result.stderr


def test_a_spawned_shell_and_what_it_runs_are_one_group_headed_by_the_shell(ebpf, tmp_path):
    config_file, secret = tmp_path / "service.conf", tmp_path / "shell-reads.txt"
    config_file.write_text("x\n")
    secret.write_text("y\n")
    db_url = migrated(f"sqlite:///{tmp_path / 'gate.db'}")
    _record(db_url, tmp_path, "v1", str(config_file), "quiet", str(secret))
    _record(db_url, tmp_path, "v2", str(config_file), "spawn", str(secret))
    shell, python, id_program = (os.path.realpath(p) for p in ("/bin/sh", sys.executable, "/usr/bin/id"))

    started_by, made = defaultdict(set), defaultdict(set)
    for window in read_profile(db_url, "v2").windows:
        for facts in window.programs:
            started_by[facts.program] |= facts.started_by
            made[facts.program] |= facts.features
    assert python in started_by[shell]
    assert shell in started_by[id_program]
    assert ("file", f"{secret}:r") in made[shell]  # the shell's own redirect
    assert ("syscall", "execve") in made[shell]  # its fork execs /usr/bin/id

    verdict = gate_check(db_url, tmp_path, "probe-test", CONFIG)
    anomalies = verdict["anomalies"]
    # a program's group (the rate shifts, if any, are a group of their own: cause "rates")
    groups = [group for group in verdict["groups"] if group["cause"] == "program"]
    assert [group["program"] for group in groups] == [shell]
    group = groups[0]
    assert anomalies[group["anomaly"]]["key"] == shell
    assert group["started_by"] == [python]
    members = {(anomalies[i]["kind"], anomalies[i]["key"]) for i in group["anomalies"]}
    assert ("file", f"{secret}:r") in members
    assert sum(kind == "syscall" for kind, _ in members) >= 3
    assert [child["program"] for child in group["children"]] == [id_program]
    assert group["summary"].startswith(f"{shell} (new exec, started by {python}) made ")
    assert f"exec'd {id_program}" in group["summary"]
    # the file python3 reads in both versions is no anomaly; nothing python3 did is grouped
    grouped = {i for g in [group, *group["children"]] for i in [g["anomaly"], *g["anomalies"]]}
    assert all(anomalies[i]["change"] in ("new", "unverified") for i in grouped)
    assert len(grouped) > len(anomalies) - len(grouped)
