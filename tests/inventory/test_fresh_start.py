"""The point of the inventory (issue 18): a baseline read while it runs holds
every listen/bind/file/exec key that a fresh start of the same program makes.

The probe is not run here (tests/probe covers its keys); a fresh start's keys
are taken from what the program itself passed to bind(), listen() and open(),
formatted as the probe's drain formats them.
"""

from __future__ import annotations

import os

from gate_contract.keys import Address, FileKey
from host_probe.inventory import take_inventory
from host_probe.keys.normalise import normalise_path, normalise_port
from tests.inventory.conftest import PYTHON, ephemeral_ports, of_kinds

# A small service: what it binds, listens on and opens at start-up, it keeps.
# It reports each call's arguments, which are what the probe's keys are made of.
SERVICE = """
    port = {port}
    calls = []
    tcp = socket.socket()
    if port:
        tcp.bind(("0.0.0.0", port))
    else:
        port = bind_free(tcp, "0.0.0.0")
    calls.append(("bind", "0.0.0.0", port)); tcp.listen(); calls.append(("listen", "0.0.0.0", port))
    udp = socket.socket(type=socket.SOCK_DGRAM); udp.bind(("127.0.0.1", port)); calls.append(("bind", "127.0.0.1", port))
    control = socket.socket(socket.AF_UNIX); control.bind("{work_dir}/control.sock"); control.listen()
    calls += [("bind", "{work_dir}/control.sock"), ("listen", "{work_dir}/control.sock")]
    config = open("{work_dir}/service.conf"); calls.append(("open", "{work_dir}/service.conf", "r"))
    log = os.open("{work_dir}/service.log", os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    calls.append(("open", "{work_dir}/service.log", "w"))
    ready(port=port, calls=calls)
"""


def fresh_start_keys(calls: list[list], ephemeral: tuple[int, int]) -> set[tuple[str, str]]:
    # the file execve() ran, symlinks resolved, as the probe's exec key has it
    keys = {("exec", normalise_path(os.path.realpath(PYTHON)))}
    for call in calls:
        if call[0] == "open":
            keys.add(("file", str(FileKey(normalise_path(call[1]), call[2]))))
        elif len(call) == 2:
            keys.add((call[0], str(Address("unix", path=normalise_path(call[1])))))
        else:
            # the canary asks for its port: the probe keys it as it is, even inside the ephemeral range
            keys.add((call[0], str(Address("inet", call[1], normalise_port(call[2], ephemeral, asked=True)))))
    return keys


def test_a_running_service_holds_what_its_fresh_start_makes(hold, work_dir):
    (work_dir / "service.conf").write_text("listen: any\n")
    ephemeral = ephemeral_ports()
    baseline = hold(SERVICE.format(port=0, work_dir=work_dir))
    inventory = take_inventory([baseline.pid], ephemeral)
    port = baseline.info["port"]
    baseline.stop()
    os.unlink(work_dir / "control.sock")  # as the service's own start-up script would

    canary = hold(SERVICE.format(port=port, work_dir=work_dir))
    fresh = fresh_start_keys(canary.info["calls"], ephemeral)

    held = of_kinds(inventory.features(), "listen", "bind", "file", "exec")
    assert fresh == held
