"""Open files with their access mode, from /proc/<pid>/fd and fdinfo flags."""

from __future__ import annotations

from host_probe.inventory import take_inventory
from tests.inventory.conftest import of_kinds


def file_features(*pids: int) -> set[tuple[str, str]]:
    return of_kinds(take_inventory(pids).features(), "file")


def test_files_held_open_keep_their_access_mode(hold, work_dir):
    for name in ("config.yaml", "state.db", "device-like"):
        (work_dir / name).write_text("data\n")
    program = hold(f"""
        config = open({str(work_dir / 'config.yaml')!r})
        log = os.open({str(work_dir / 'app.log')!r}, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        db = os.open({str(work_dir / 'state.db')!r}, os.O_RDWR)
        ioctl_only = os.open({str(work_dir / 'device-like')!r}, 3)  # O_ACCMODE: the probe keys it rw
        ready()
    """)
    assert file_features(program.pid) == {
        ("file", f"{work_dir}/config.yaml:r"), ("file", f"{work_dir}/app.log:w"), ("file", f"{work_dir}/state.db:rw"),
        ("file", f"{work_dir}/device-like:rw")}


def test_devices_and_directories_are_files_pipes_and_sockets_are_not(hold, work_dir):
    program = hold(f"""
        null = os.open("/dev/null", os.O_WRONLY)
        directory = os.open({str(work_dir)!r}, os.O_RDONLY | os.O_DIRECTORY)
        read_end, write_end = os.pipe()
        pair = socket.socketpair()
        event = os.eventfd(0)
        memory = os.memfd_create("scratch")
        ready()
    """)
    assert file_features(program.pid) == {("file", "/dev/null:w"), ("file", f"{work_dir}:r")}


def test_a_deleted_file_held_open_keeps_its_path_and_is_reported(hold, work_dir):
    program = hold(f"""
        journal = open({str(work_dir / 'journal')!r}, "w")
        os.unlink({str(work_dir / 'journal')!r})
        ready()
    """)
    inventory = take_inventory([program.pid])
    assert of_kinds(inventory.features(), "file") == {("file", f"{work_dir}/journal:w")}
    assert inventory.deleted_files == {f"{work_dir}/journal"}


def test_file_paths_are_normalised(hold, work_dir):
    program = hold(f"""
        cache = open({str(work_dir / '9f86d081884c7d65.bin')!r}, "w")
        ready()
    """)
    assert file_features(program.pid) == {("file", f"{work_dir}/<hex>.bin:w")}


def test_standard_streams_can_be_left_out(hold, work_dir):
    # What a launcher handed the process on fds 0-2 (a log file per instance, say) is the
    # deployment's choice, not the release's: the probe's inventory after a start-up leaves it out.
    program = hold(f"""
        handed = os.open({str(work_dir / 'instance-7.log')!r}, os.O_WRONLY | os.O_CREAT)
        os.dup2(handed, 2)
        os.close(handed)
        own = os.open({str(work_dir / 'app.log')!r}, os.O_WRONLY | os.O_CREAT)
        ready()
    """)
    everything = of_kinds(take_inventory([program.pid]).features(), "file")
    own_only = of_kinds(take_inventory([program.pid], standard_streams=False).features(), "file")
    assert ("file", f"{work_dir}/instance-7.log:w") in everything
    assert own_only == everything - {("file", f"{work_dir}/instance-7.log:w")}
    assert ("file", f"{work_dir}/app.log:w") in own_only
