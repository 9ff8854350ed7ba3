"""The judge's lineage rules (analysis/lineage.py) on profiles given as data: what a new
program alone made joins its group; what an older program, or a process the probe never
saw exec, also made does not; an older program's start-up does not keep a new program's
every-window feature from it; windows without lineage judge flat."""

from __future__ import annotations

from dataclasses import replace

from gate_contract.profile import ProgramFacts
from gate_server.analysis.judge import judge
from tests.analysis.synthetic import canary_profile, service_profile

SHELL, APP = "/usr/bin/dash", "/usr/bin/app"
SHELL_RUN = {("exec", SHELL): 1, ("syscall", "dup2"): 2, ("syscall", "getppid"): 1, ("file", "/etc/passwd:r"): 1}
SHELL_MADE = frozenset({("syscall", "dup2"), ("syscall", "getppid"), ("file", "/etc/passwd:r")})


def canary(programs, unnamed=frozenset(), extra=SHELL_RUN, startup_window: dict | None = None):
    """Ten windows, each with `extra` and the same lineage; window 0 a start-up one when
    `startup_window` names what the service's own start made there."""
    profile = canary_profile(extra=lambda index: dict(extra))
    windows = [replace(window, programs=tuple(programs), unnamed=frozenset(unnamed)) for window in profile.windows]
    if startup_window is not None:
        first = windows[0]
        windows[0] = replace(first, startup=True, counts={**first.counts, **startup_window}, programs=(
            *first.programs, ProgramFacts(APP, features=frozenset(startup_window))))
    return replace(profile, windows=windows)


def grouped(verdict) -> dict[str, set[tuple[str, str]]]:
    return {group.program: {(verdict.anomalies[i].kind, verdict.anomalies[i].key) for i in group.anomalies}
            for group in verdict.groups}


def test_what_only_the_new_program_made_is_its_group():
    verdict = judge(service_profile(), canary([ProgramFacts(SHELL, frozenset({APP}), SHELL_MADE),
                                               ProgramFacts(APP, features=frozenset({("exec", SHELL)}))]))
    assert grouped(verdict) == {SHELL: set(SHELL_MADE)}
    [group] = verdict.groups
    assert verdict.anomalies[group.anomaly].key == SHELL and group.started_by == [APP]
    assert group.summary == f"{SHELL} (new exec, started by {APP}) made 2 new syscalls and 1 new file"
    assert len(verdict.anomalies) == 4  # the flat list keeps every anomaly


def test_what_an_older_program_or_an_unseen_process_also_made_stays_ungrouped():
    also_app = ProgramFacts(APP, features=frozenset({("exec", SHELL), ("file", "/etc/passwd:r")}))
    verdict = judge(service_profile(), canary([ProgramFacts(SHELL, frozenset({APP}), SHELL_MADE), also_app],
                                              unnamed={("syscall", "getppid")}))
    assert grouped(verdict) == {SHELL: {("syscall", "dup2")}}


def test_an_older_programs_start_up_does_not_take_the_new_programs_every_window_feature():
    verdict = judge(service_profile(), canary([ProgramFacts(SHELL, frozenset({APP}), SHELL_MADE)],
                                              startup_window={("syscall", "getppid"): 1}))
    assert ("syscall", "getppid") in grouped(verdict)[SHELL]


def test_windows_without_lineage_judge_flat():
    verdict = judge(service_profile(), canary([]))
    assert verdict.groups == [] and {a.key for a in verdict.anomalies} >= {SHELL, "dup2"}


# Python's subprocess as the probe sees it: until the child's exec it runs python's image, so
# the fork, the exec-error pipe, the exec and the wait are the service's own syscalls.
SPAWN = {("syscall", "vfork"): 2, ("syscall", "pipe2"): 2, ("syscall", "wait4"): 2, ("syscall", "execve"): 2,
         ("process", "fork"): 2, ("process", "exec"): 2}
APP_STARTS_SHELL = frozenset({("exec", SHELL), ("syscall", "vfork"), ("syscall", "pipe2"), ("syscall", "wait4"),
                              ("syscall", "execve")})


def started(programs=None, extra=None, unnamed=frozenset()):
    return canary(programs or [ProgramFacts(SHELL, frozenset({APP}), SHELL_MADE),
                               ProgramFacts(APP, features=APP_STARTS_SHELL)],
                  extra=extra or {**SHELL_RUN, **SPAWN}, unnamed=unnamed)


def test_the_parents_spawn_syscalls_and_process_events_join_the_program_it_started():
    verdict = judge(service_profile(), started())
    [group] = verdict.groups
    spawn = {("syscall", "vfork"), ("syscall", "pipe2"), ("syscall", "wait4"), ("syscall", "execve"),
             ("process", "fork"), ("process", "exec")}
    assert grouped(verdict) == {SHELL: set(SHELL_MADE) | spawn}
    assert {(verdict.anomalies[i].kind, verdict.anomalies[i].key) for i in group.started_with} == spawn
    assert group.summary == (f"{SHELL} (new exec, started by {APP}) made 2 new syscalls and 1 new file; "
                             "starting it: 4 new syscalls and 2 new process events")


def test_a_parents_other_new_syscall_stays_its_own():
    verdict = judge(service_profile(), started(
        programs=[ProgramFacts(SHELL, frozenset({APP}), SHELL_MADE),
                  ProgramFacts(APP, features=APP_STARTS_SHELL | {("syscall", "memfd_create")})],
        extra={**SHELL_RUN, **SPAWN, ("syscall", "memfd_create"): 1}))
    assert ("syscall", "memfd_create") not in grouped(verdict)[SHELL]
    assert "memfd_create" in {a.key for a in verdict.anomalies}


def test_spawn_syscalls_an_unseen_process_also_made_stay_ungrouped():
    verdict = judge(service_profile(), started(unnamed={("syscall", "vfork"), ("syscall", "execve")}))
    assert not {("syscall", "vfork"), ("syscall", "execve"), ("process", "fork"), ("process", "exec")} \
        & grouped(verdict)[SHELL]
    assert ("syscall", "wait4") in grouped(verdict)[SHELL]


def test_spawn_syscalls_seen_where_the_program_was_not_execd_stay_ungrouped():
    profile = started()
    windows = list(profile.windows)
    quiet = windows[4]  # the service forks and waits here, but runs no shell
    windows[4] = replace(quiet, counts={key: n for key, n in quiet.counts.items() if key != ("exec", SHELL)})
    verdict = judge(service_profile(), replace(profile, windows=windows))
    assert not {("syscall", "vfork"), ("syscall", "wait4"), ("process", "fork")} & grouped(verdict)[SHELL]


def test_a_new_program_started_by_a_process_never_seen_exec_takes_its_spawn_syscalls():
    # an attached service: its processes were running before the probe, so they are no program
    verdict = judge(service_profile(), started(
        programs=[ProgramFacts(SHELL, frozenset(), SHELL_MADE)], unnamed=APP_STARTS_SHELL))
    assert {("syscall", "vfork"), ("process", "fork")} <= grouped(verdict).get(SHELL, set())


def test_grouping_changes_neither_the_verdict_nor_the_anomalies():
    with_lineage = judge(service_profile(), started())
    flat = judge(service_profile(), canary([], extra={**SHELL_RUN, **SPAWN}))
    assert flat.groups == [] and with_lineage.groups
    assert (with_lineage.verdict, with_lineage.score, with_lineage.reasons, with_lineage.anomalies) == \
           (flat.verdict, flat.score, flat.reasons, flat.anomalies)


def test_an_exit_joins_the_program_whose_processes_exit_and_a_parents_thread_stays_its_own():
    quiet_baseline = service_profile(thread_churn=0)  # no exits, no threads
    extra = {**SHELL_RUN, ("syscall", "exit_group"): 2, ("process", "exit"): 2, ("syscall", "clone3"): 1,
             ("process", "thread"): 1}
    profile = canary_profile(extra=lambda index: dict(extra), thread_churn=0)
    programs = (ProgramFacts(SHELL, frozenset({APP}), SHELL_MADE | {("syscall", "exit_group")}),
                ProgramFacts(APP, features=frozenset({("exec", SHELL), ("syscall", "clone3")})))
    verdict = judge(quiet_baseline, replace(profile, windows=[replace(window, programs=programs)
                                                              for window in profile.windows]))
    [group] = verdict.groups
    assert ("process", "exit") in grouped(verdict)[SHELL]
    assert ("process", "exit") not in {(verdict.anomalies[i].kind, verdict.anomalies[i].key)
                                       for i in group.started_with}  # the shell's own doing
    # clone3 may be the shell's start (glibc's posix_spawn) or the thread: the thread is the service's
    assert ("process", "thread") not in grouped(verdict)[SHELL]
    assert "thread" in {a.key for a in verdict.anomalies if a.kind == "process"}
