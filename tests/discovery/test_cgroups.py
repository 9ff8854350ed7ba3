"""Finding a container's cgroup v2 directory, in real directories under the cgroup2 mount."""

from __future__ import annotations

import os
import subprocess
import uuid
from pathlib import Path

import pytest

from host_probe.discovery import DiscoveryError
from host_probe.discovery.cgroups import CgroupFinder, cgroup2_mount, docker_directory, process_cgroup

CGROUP1_LINE = "32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu"


def new_container_id() -> str:
    return uuid.uuid4().hex + uuid.uuid4().hex


def test_cgroup2_mount_is_read_from_mountinfo(tmp_path):
    mountinfo = tmp_path / "mountinfo"
    mountinfo.write_text(f"{CGROUP1_LINE}\n41 31 0:38 / /sys/fs/cgroup/my\\040unified rw - cgroup2 cgroup2 rw\n")
    assert cgroup2_mount(str(mountinfo)) == Path("/sys/fs/cgroup/my unified")


def test_a_host_without_cgroup2_is_a_discovery_error(tmp_path):
    mountinfo = tmp_path / "mountinfo"
    mountinfo.write_text(CGROUP1_LINE + "\n")
    with pytest.raises(DiscoveryError, match="no cgroup2 file system is mounted"):
        cgroup2_mount(str(mountinfo))


def test_this_hosts_cgroup2_mount_holds_this_process(cgroup2_root):
    assert (cgroup2_root / "cgroup.procs").exists()
    assert str(os.getpid()) in (process_cgroup(os.getpid()) / "cgroup.procs").read_text().split()


def test_a_process_that_does_not_exist_is_a_discovery_error(cgroup2_root):
    with pytest.raises(DiscoveryError, match="process 999999999 does not exist"):
        process_cgroup(999999999, cgroup2_root)


@pytest.mark.parametrize("layout, hints", [
    ("docker/{id}", {}),
    ("system.slice/docker-{id}.scope", {}),
    ("kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{uid_}.slice/cri-containerd-{id}.scope",
     {"qos_class": "Burstable"}),
    ("kubepods.slice/kubepods-pod{uid_}.slice/crio-{id}.scope", {"qos_class": "Guaranteed"}),
    ("kubepods/besteffort/pod{uid}/{id}", {"qos_class": "BestEffort"}),
    ("kubepods/besteffort/pod{uid}/{id}", {}),  # no QoS class known: every level is tried
    # a kubelet with its own --cgroup-root (a kind node's): found by the walk
    ("kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/"
     "kubelet-kubepods-besteffort-pod{uid_}.slice/cri-containerd-{id}.scope", {"qos_class": "BestEffort"}),
])
def test_each_layout_is_found(make_cgroup, layout, hints):
    container_id, pod_uid = new_container_id(), str(uuid.uuid4())
    path = make_cgroup(layout.format(id=container_id, uid=pod_uid, uid_=pod_uid.replace("-", "_")))
    finder = CgroupFinder()
    pod_hint = {"pod_uid": pod_uid} if "pod" in layout else {}
    assert finder.find(container_id, **pod_hint, **hints) == path


def test_a_process_in_a_found_directory_is_in_it(make_cgroup):
    container_id = new_container_id()
    path = make_cgroup(f"syscall-gate-test.slice/docker-{container_id}.scope")
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        (path / "cgroup.procs").write_text(str(sleeper.pid))
        assert CgroupFinder().find(container_id) == path == process_cgroup(sleeper.pid)
    finally:
        sleeper.kill()
        sleeper.wait()


def test_a_removed_directory_is_not_served_from_the_cache(make_cgroup):
    container_id = new_container_id()
    path = make_cgroup(f"docker/{container_id}")
    finder = CgroupFinder(rescan_interval=0)
    assert finder.find(container_id) == path
    path.rmdir()
    assert finder.find(container_id) is None


def test_a_container_without_a_directory_is_none(cgroup2_root):
    assert CgroupFinder(cgroup2_root).find(new_container_id(), pod_uid=str(uuid.uuid4())) is None


@pytest.mark.parametrize("driver, parent, directory", [
    ("cgroupfs", "", "docker/{id}"),
    ("cgroupfs", "/batch/jobs", "batch/jobs/{id}"),
    ("systemd", "", "system.slice/docker-{id}.scope"),
    ("systemd", "team-web.slice", "team.slice/team-web.slice/docker-{id}.scope"),
    ("systemd", "/not/a/slice", None),
    ("none", "", None),
])
def test_docker_directory_is_predicted_for_each_driver(driver, parent, directory):
    container_id = "ab" * 32
    expected = directory.format(id=container_id) if directory else None
    assert docker_directory(container_id, driver, parent) == expected
