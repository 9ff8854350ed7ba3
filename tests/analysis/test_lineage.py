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
    also_app = ProgramFacts(APP, features=frozenset({("exec", SHELL), ("syscall", "dup2")}))
    verdict = judge(service_profile(), canary([ProgramFacts(SHELL, frozenset({APP}), SHELL_MADE), also_app],
                                              unnamed={("syscall", "getppid")}))
    assert grouped(verdict) == {SHELL: {("file", "/etc/passwd:r")}}


def test_an_older_programs_start_up_does_not_take_the_new_programs_every_window_feature():
    verdict = judge(service_profile(), canary([ProgramFacts(SHELL, frozenset({APP}), SHELL_MADE)],
                                              startup_window={("syscall", "getppid"): 1}))
    assert ("syscall", "getppid") in grouped(verdict)[SHELL]


def test_windows_without_lineage_judge_flat():
    verdict = judge(service_profile(), canary([]))
    assert verdict.groups == [] and {a.key for a in verdict.anomalies} >= {SHELL, "dup2"}
