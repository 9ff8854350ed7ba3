"""Which processes are read: exe and cwd, children, threads, processes that
vanish or may not be read."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import time
from pathlib import Path

from host_probe.inventory import take_inventory
from host_probe.keys.normalise import normalise_path
from tests.inventory.conftest import PYTHON, of_kinds

# The probe keys an exec by the path execve() was given (the venv's python),
# /proc/<pid>/exe names the file it resolved to: both are in the inventory.
# the file that runs (/proc/<pid>/exe), not the name invoked: the venv's python is a symlink
PYTHON_EXECS = {("exec", normalise_path(os.path.realpath(PYTHON)))}


def test_the_executable_is_exec_and_the_working_directory_is_a_cwd(hold, work_dir):
    program = hold("ready()", cwd=work_dir)
    inventory = take_inventory([program.pid])
    assert of_kinds(inventory.features(), "exec") == PYTHON_EXECS
    assert inventory.cwds == {str(work_dir)}
    assert inventory.tgids == [program.pid]


def test_an_executable_replaced_since_start_keeps_its_path_and_is_reported(hold, work_dir):
    """A package upgrade replaces the binary under a running service: exe reads
    "<path> (deleted)", and the next start execs <path>."""
    program_path = work_dir / "service-python"
    shutil.copy2(os.path.realpath(PYTHON), program_path)
    program = hold("ready()", python=str(program_path))
    program_path.unlink()
    inventory = take_inventory([program.pid])
    assert of_kinds(inventory.features(), "exec") == {("exec", str(program_path))}
    assert inventory.deleted_files == {str(program_path)}


def test_a_parent_and_its_child_are_read_together_and_deduplicated(hold, work_dir):
    (work_dir / "shared.conf").write_text("x\n")
    program = hold(f"""
        import subprocess
        shared = open({str(work_dir / 'shared.conf')!r})
        child = subprocess.Popen([sys.executable, "-c",
            "import sys; f = open({str(work_dir / 'child.log')!r}, 'a'); "
            "g = open({str(work_dir / 'shared.conf')!r}); print('up', flush=True); sys.stdin.read()"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        child.stdout.readline()
        ready(child=child.pid)
    """)
    child = program.info["child"]
    inventory = take_inventory([program.pid, child])
    assert of_kinds(inventory.features(), "file", "exec") == {
        ("file", f"{work_dir}/shared.conf:r"), ("file", f"{work_dir}/child.log:w"), *PYTHON_EXECS}
    assert sorted(inventory.tgids) == sorted([program.pid, child])


def test_a_thread_is_read_as_its_process(hold):
    program = hold("""
        import threading
        thread_ids = []
        started = threading.Event()
        def run():
            thread_ids.append(threading.get_native_id()); started.set(); threading.Event().wait()
        threading.Thread(target=run, daemon=True).start()
        started.wait()
        ready(thread=thread_ids[0])
    """)
    inventory = take_inventory([program.info["thread"], program.pid])
    assert inventory.tgids == [program.pid]
    assert of_kinds(inventory.features(), "exec") == PYTHON_EXECS


def test_a_process_that_is_gone_is_counted_as_vanished(hold):
    reaped = subprocess.Popen([PYTHON, "-c", "pass"])
    reaped.wait()
    zombie = subprocess.Popen([PYTHON, "-c", "pass"])
    os.waitid(os.P_PID, zombie.pid, os.WEXITED | os.WNOWAIT)  # exited, not reaped: holds nothing
    living = hold("ready()")
    try:
        inventory = take_inventory([reaped.pid, zombie.pid, living.pid])
    finally:
        zombie.wait()
    assert (inventory.vanished, inventory.tgids) == (2, [living.pid])
    assert of_kinds(inventory.features(), "exec") == PYTHON_EXECS


def test_processes_exiting_during_the_inventory_never_break_it(work_dir):
    """Thirty processes that each hold a file exit one by one while inventories
    run: every pid is either read or counted as vanished, and what is read is
    what they held."""
    (work_dir / "held").write_text("x\n")
    code = f"import sys; f = open({str(work_dir / 'held')!r}); print('up', flush=True); sys.stdin.read()"
    # stderr too is a pipe: inherited, pytest's capture file would be held as well
    processes = [subprocess.Popen([PYTHON, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE) for _ in range(30)]
    for process in processes:
        process.stdout.readline()
    pids = [process.pid for process in processes]

    def stop_one_by_one():
        for process in processes:
            process.stdin.close()
            process.wait()
            process.stdout.close()
            process.stderr.close()
            time.sleep(0.005)

    stopper = threading.Thread(target=stop_one_by_one)
    stopper.start()
    results = []
    while stopper.is_alive() or not results:
        results.append(take_inventory(pids))
    stopper.join()
    results.append(take_inventory(pids))
    for inventory in results:
        assert len(inventory.tgids) + inventory.vanished == len(pids)
        assert inventory.unreadable == 0
        assert of_kinds(inventory.features(), "file") <= {("file", f"{work_dir}/held:r")}
    assert results[-1].vanished == len(pids)
    assert any(0 < inventory.vanished < len(pids) for inventory in results)


def test_a_process_that_may_not_be_read_is_counted_as_unreadable(hold):
    """An unprivileged reader may not follow a root process's fds: counted, no crash."""
    program = hold("ready()")
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:
        try:
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            inventory = take_inventory([program.pid])
            report = {"unreadable": inventory.unreadable, "vanished": inventory.vanished,
                      "features": sorted(map(list, inventory.features()))}
            os.write(write_end, json.dumps(report).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end) as reader:
        report = json.loads(reader.read())
    os.waitpid(child, 0)
    assert report == {"unreadable": 1, "vanished": 0, "features": []}
