"""What is judged is canonical (issue 13): a real process opens /etc/shadow spelled
every way the kernel accepts, and the stored key is /etc/shadow, so the judge's
sensitive-path rules see it. These record with the sys_enter file hook (forced, so
they test it on a kernel that allows fentry too): the probe stores the text and its
opener, and host_probe/keys/canonical.py resolves it at the drain. A path that cannot be
resolved any more says so, and still pauses. The fentry hook's own:
tests/kernels/test_file_hook.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from host_probe.keys.normalise import normalise_path
from tests.probe.conftest import PYTHON, drops, gate_check, host_probe, migrated, read_profile, record_args, totals

SPELLINGS = Path(__file__).with_name("spellings.py")
JUDGE_CONFIG = {"sufficiency": {"min_windows": 2, "min_syscalls": 10}}


@pytest.fixture
def work(tmp_path):
    directory = tmp_path / "work"
    directory.mkdir()
    (directory / "innocent.conf").symlink_to("/etc/shadow")
    return directory


def record(tmp_path: Path, version: str, spelling: str, work: Path, *options: str, role: str = "baseline"):
    db_url = migrated(f"sqlite:///{tmp_path / 'gate.db'}")
    result = host_probe(*record_args(db_url, tmp_path / "spool", version, "--role", role, "--file-hook", "sys_enter",
                                     "--", PYTHON, str(SPELLINGS), spelling, "--dir", str(work), *options))
    assert result.returncode == 0, result.stderr
    return db_url, read_profile(db_url, version)


def shadow_keys(profile) -> dict[str, int]:
    return {key: n for (kind, key), n in totals(profile).items() if kind == "file" and "shadow" in key}


@pytest.mark.parametrize("spelling", ["double-slash", "dot", "dot-dot", "dirfd", "proc-self-root", "symlink"])
def test_every_spelling_of_a_secret_is_stored_as_its_canonical_path(ebpf, tmp_path, work, spelling):
    _, profile = record(tmp_path, spelling, spelling, work)
    assert shadow_keys(profile) == {"/etc/shadow:r": 1}


def test_a_relative_write_is_stored_as_the_absolute_path(ebpf, tmp_path, work):
    _, profile = record(tmp_path, "relative", "relative-write", work)
    files = {key for kind, key in totals(profile) if kind == "file" and "app.log" in key}
    assert files == {normalise_path(f"{work}/logs/app.log") + ":w"}


def test_a_path_longer_than_the_kernel_reads_is_a_counted_loss_and_a_marked_key(ebpf, tmp_path, work):
    _, profile = record(tmp_path, "long", "long", work)
    assert drops(profile)["path_truncated"] == 1
    cut = [key for kind, key in totals(profile) if kind == "file" and key.endswith("<truncated>:r")]
    assert len(cut) == 1 and cut[0].startswith("<unresolved>/"), cut


def test_a_directory_fd_closed_before_the_drain_leaves_an_unresolved_key(ebpf, tmp_path, work):
    _, profile = record(tmp_path, "let-go", "dirfd", work, "--let-go")
    assert shadow_keys(profile) == {"<unresolved>shadow:r": 1}


@pytest.mark.parametrize("spelling, options", [
    ("dot-dot", ()),
    ("dirfd", ("--let-go",)),  # unresolved by the drain: judged by its trailing components
])
def test_a_canary_reading_a_secret_however_spelled_pauses(ebpf, tmp_path, work, spelling, options):
    db_url, _ = record(tmp_path, "v1", "none", work, "--hold", "3.5")
    record(tmp_path, "v2", spelling, work, "--hold", "3.5", *options, role="canary")
    verdict = gate_check(db_url, tmp_path, "probe-test", JUDGE_CONFIG)
    assert verdict["verdict"] == "pause", verdict
    sensitive = [a for a in verdict["anomalies"] if a["group"] == "sensitive" and a["change"] == "new"]
    assert len(sensitive) == 1 and "shadow" in sensitive[0]["key"], verdict["anomalies"]
