"""The Action's reading of a check's groups (gate_client/summary.py) is the server's
(gate_server/analysis/entries.py): the same groups, the same anomalies held, the same
members listed under each (the Action runs without this repository, so it keeps a copy)."""

from __future__ import annotations

from dataclasses import replace

from action.gate_client import summary as copy
from gate_contract.profile import ProgramFacts
from gate_server.analysis import entries
from gate_server.analysis.judge import judge
from tests.analysis.synthetic import canary_profile, service_profile

SHELL, ID, APP = "/usr/bin/dash", "/usr/bin/id", "/usr/bin/app"
NOISE = {"getpid": 0.05, "madvise": 0.05}
RUN = {("exec", SHELL): 1, ("exec", ID): 1, ("syscall", "dup2"): 2, ("syscall", "vfork"): 1,
       ("syscall", "getgroups"): 1, ("process", "fork"): 1, ("file", "/etc/passwd:r"): 1}
PROGRAMS = (ProgramFacts(APP, features=frozenset({("exec", SHELL), ("syscall", "vfork")})),
            ProgramFacts(SHELL, frozenset({APP}), frozenset({("exec", ID), ("syscall", "dup2")})),
            ProgramFacts(ID, frozenset({SHELL}), frozenset({("syscall", "getgroups"), ("file", "/etc/passwd:r")})))


def document() -> dict:
    canary = canary_profile(extra=lambda index: dict(RUN), mix={**NOISE, "getpid": 0.5, "madvise": 0.01})
    canary = replace(canary, windows=[replace(window, programs=PROGRAMS) for window in canary.windows])
    return judge(service_profile(mix=NOISE), canary).to_dict()


def test_the_actions_copy_reads_the_groups_as_the_server_does():
    checked = document()
    assert {group["cause"] for group in checked["groups"]} == {"program", "rates"}  # both kinds are read
    assert [(depth, group["summary"]) for depth, group in copy._walk_groups(checked["groups"])] == \
           [(depth, group["summary"]) for depth, group in entries.walk_groups(checked["groups"])]
    assert copy._grouped(checked) == entries.grouped_indexes(checked)
    for _, group in entries.walk_groups(checked["groups"]):
        count, keys = copy._group_detail(group, checked["anomalies"])
        listed = [key for found in entries.members_by_kind(group, checked["anomalies"]).values() for key in found]
        assert count == len(listed)
        assert all(f"<code>{copy._cell(key)}</code>" in keys for key in listed)
