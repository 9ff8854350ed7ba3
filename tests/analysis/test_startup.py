"""A freshly started canary against a baseline recorded by attaching to a running
service (issue 18): what the baseline already held (its inventory) and the start-up
windows of earlier recordings vouch for the canary's start-up; what nothing vouches
for is news, and where the baseline's start-up was never observed it is `unverified`,
which may warn and never pauses alone."""

from __future__ import annotations

from dataclasses import replace
from typing import Optional

from gate_server.analysis.config import load_config
from gate_server.analysis.judge import judge
from gate_contract.profile import Profile
from tests.analysis.synthetic import canary_profile, in_windows, service_profile

# What the running service holds, as /proc shows it when the baseline's recording attaches.
HELD = {("listen", "inet:127.0.0.1:8080"): 1, ("bind", "inet:127.0.0.1:8080"): 1,
        ("file", "/etc/app.yml:r"): 1, ("file", "/var/log/app.log:w"): 1, ("exec", "/usr/bin/app"): 1}
# What a fresh start of the same program does in front of the probe: all it holds, and its loader.
START = {**HELD, ("file", "/etc/ld.so.cache:r"): 1, ("syscall", "execve"): 1, ("syscall", "arch_prctl"): 2}
NEW_PORT = {("listen", "inet:127.0.0.1:9090"): 1, ("bind", "inet:127.0.0.1:9090"): 1}
SHADOW = {("file", "/etc/shadow:r"): 1}


def attached_baseline(inventory=HELD, version="v1") -> Profile:
    """Recorded by attaching to a running service: no start-up window, the inventory in window 0."""
    profile = service_profile(version=version, with_startup=False)
    first = replace(profile.windows[0], inventory=frozenset(inventory))
    return replace(profile, windows=[first, *profile.windows[1:]])


def fresh_canary(start=START, version="v2", **options) -> Profile:
    """Started in front of the probe: window 0 is its start-up, with `start` in it."""
    profile = canary_profile(with_startup=False, version=version, extra=in_windows_all(start, [0]), **options)
    return replace(profile, windows=[replace(profile.windows[0], startup=True), *profile.windows[1:]])


def in_windows_all(counts: dict, windows) -> callable:
    return lambda index: dict(counts) if index in set(windows) else {}


def start_up_reference(start=START, version="v1") -> Profile:
    """The start-up window of an earlier recording (kept by retention at any age)."""
    window = replace(service_profile(version=version, windows=1, seed=9, with_startup=False).windows[0],
                     startup=True)
    return Profile(service="shop", version=version, windows=[replace(window, counts={**window.counts, **start})])


def anomalies(verdict, change=None):
    return {(a.kind, a.key) for a in verdict.anomalies if change is None or a.change == change}


# --- the production path: attached baseline, fresh canary -------------------------------

def test_a_fresh_canary_of_the_same_program_passes_against_an_attached_baseline():
    verdict = judge(attached_baseline(), fresh_canary(), load_config({}))
    assert verdict.verdict == "pass", verdict.reasons
    assert verdict.anomalies == [], [a.reason for a in verdict.anomalies]


def test_without_the_inventory_the_same_canary_would_pause():
    # what issue 18 reported; kept as the control of the test above
    verdict = judge(attached_baseline(inventory={}), replace_startup(fresh_canary(), False), load_config({}))
    assert verdict.verdict == "pause"
    assert ("listen", "inet:127.0.0.1:8080") in anomalies(verdict, "new")


def replace_startup(profile: Profile, startup: bool) -> Profile:
    return replace(profile, windows=[replace(w, startup=startup) for w in profile.windows])


def test_a_fresh_canary_listening_on_a_new_port_at_start_up_pauses():
    verdict = judge(attached_baseline(), fresh_canary({**START, **NEW_PORT}), load_config({}))
    assert verdict.verdict == "pause"
    assert anomalies(verdict, "new") == set(NEW_PORT)
    listener = next(a for a in verdict.anomalies if a.kind == "listen")
    assert listener.limit == "max_new_listeners" and "start-up" in listener.reason


def test_a_fresh_canary_reading_a_secret_at_start_up_pauses():
    verdict = judge(attached_baseline(), fresh_canary({**START, **SHADOW}), load_config({}))
    assert verdict.verdict == "pause"
    (shadow,) = [a for a in verdict.anomalies if a.key == "/etc/shadow:r"]
    assert (shadow.change, shadow.severity, shadow.group) == ("new", "critical", "sensitive")


def test_what_an_inventory_cannot_show_is_unverified_at_start_up():
    # A fresh start asks a local helper daemon once, runs a helper once and writes a pid
    # file: done and gone long before the baseline's recording attached, so its
    # inventory cannot vouch for them (found by `make demo`: the canary's one connect
    # to nscd paused a healthy release; nscd is a system daemon now, local_ipc, so another socket)
    transient = {("connect", "unix:/run/app/helper.sock"): 1, ("exec", "/usr/bin/helper"): 1,
                 ("file", "/run/app.pid:w"): 1}
    baseline = attached_baseline()
    # the baseline's own attached recording is also an "earlier" recording of its version:
    # its inventory is no observed start-up either
    inventory_only_reference = Profile(service="shop", version="v1", windows=[baseline.windows[0]])
    for reference in (None, inventory_only_reference):
        verdict = judge(baseline, fresh_canary({**START, **transient}), load_config({}),
                        startup_reference=reference)
        assert verdict.verdict != "pause", verdict.reasons
        assert anomalies(verdict, "unverified") == set(transient)
        assert anomalies(verdict, "new") == set()


# --- no inventory, no start-up windows: unverified ---------------------------------------

def test_start_up_only_features_are_unverified_when_the_baseline_start_up_was_never_observed():
    verdict = judge(attached_baseline(inventory={}), fresh_canary(), load_config({}))
    assert verdict.verdict != "pause", verdict.reasons
    # one occurrence is news for a listener, an exec and a write outside known directories
    # (stability.one_off_rules); the config read recurs in no window, so it is not reported
    assert anomalies(verdict, "unverified") == {("listen", "inet:127.0.0.1:8080"), ("bind", "inet:127.0.0.1:8080"),
                                                ("exec", "/usr/bin/app"), ("file", "/var/log/app.log:w")}
    assert anomalies(verdict, "new") == set()
    listener = next(a for a in verdict.anomalies if a.kind == "listen")
    assert (listener.severity, listener.limit) == ("medium", None)
    assert "never observed" in listener.reason


def test_unverified_start_up_features_never_pause_alone_even_under_a_strict_score():
    config = load_config({"thresholds": {"pause_score": 99, "warn_score": 99.5}})
    verdict = judge(attached_baseline(inventory={}), fresh_canary({**START, **NEW_PORT}), config)
    assert verdict.score <= 99
    assert verdict.verdict == "warn", verdict.reasons
    assert any("unverified" in reason for reason in verdict.reasons)


def test_an_unverified_secret_read_at_start_up_warns():
    verdict = judge(attached_baseline(inventory={}), fresh_canary({**START, **SHADOW}), load_config({}))
    assert verdict.verdict == "warn", verdict.reasons
    (shadow,) = [a for a in verdict.anomalies if a.key == "/etc/shadow:r"]
    assert (shadow.change, shadow.severity, shadow.limit) == ("unverified", "high", None)


def test_a_canary_change_outside_its_start_up_is_news_even_without_baseline_start_up():
    canary = fresh_canary()
    steady_shell = replace(canary, windows=[
        w if i < 2 else replace(w, counts={**w.counts, ("exec", "/bin/sh"): 1}) for i, w in enumerate(canary.windows)])
    verdict = judge(attached_baseline(inventory={}), steady_shell, load_config({}))
    assert verdict.verdict == "pause"
    assert ("exec", "/bin/sh") in anomalies(verdict, "new")


# --- earlier start-up windows vouch ------------------------------------------------------

def test_earlier_start_up_windows_of_the_baseline_version_vouch_for_the_canary_start_up():
    verdict = judge(attached_baseline(inventory={}), fresh_canary(), load_config({}),
                    startup_reference=start_up_reference())
    assert verdict.verdict == "pass", verdict.reasons
    assert verdict.anomalies == [], [a.reason for a in verdict.anomalies]


def test_what_earlier_start_up_windows_lack_is_judged_new():
    verdict = judge(attached_baseline(inventory={}), fresh_canary({**START, **NEW_PORT}), load_config({}),
                    startup_reference=start_up_reference())
    assert verdict.verdict == "pause"
    assert anomalies(verdict, "new") == set(NEW_PORT)
    assert anomalies(verdict, "unverified") == set()


# --- start-up is compared with start-up ----------------------------------------------------

def test_a_freshly_started_baseline_vouches_for_the_canary_start_up():
    baseline = fresh_canary(version="v1", windows=30, syscalls_per_window=100_000, seed=0)
    verdict = judge(baseline, fresh_canary(), load_config({}))
    assert verdict.verdict == "pass", verdict.reasons
    assert verdict.anomalies == []


def test_a_freshly_started_baseline_does_not_hide_a_canary_steady_change():
    # the baseline's entrypoint runs a shell once at start-up; the canary runs it all along
    baseline = fresh_canary({**START, ("exec", "/bin/sh"): 1}, version="v1", windows=30,
                            syscalls_per_window=100_000, seed=0)
    canary = fresh_canary()
    canary = replace(canary, windows=[w if w.startup else replace(w, counts={**w.counts, ("exec", "/bin/sh"): 1})
                                      for w in canary.windows])
    verdict = judge(baseline, canary, load_config({}))
    assert verdict.verdict == "pause"
    (shell,) = [a for a in verdict.anomalies if a.key == "/bin/sh"]
    assert shell.change == "new" and "only in its start-up" in shell.reason


def test_a_canary_whose_windows_are_mostly_start_ups_is_judged_as_steady():
    # a process started in every window (a crash loop, a program run per request): no
    # steady state to tell start-up from, so the marks cannot turn news into unverified
    canary = replace_startup(canary_profile(extra=in_windows(("exec", "/bin/sh"), range(10))), True)
    verdict = judge(attached_baseline(inventory={}), canary, load_config({}))
    assert verdict.verdict == "pause"
    assert ("exec", "/bin/sh") in anomalies(verdict, "new")


# --- the inventory is "seen", never a rate, never missing -----------------------------------

def test_inventory_features_are_never_missing():
    canary = canary_profile(with_startup=False)  # attached too, and the inventory taken from it lacks HELD
    verdict = judge(attached_baseline(), canary, load_config({"stability": {"missing_min_rate": 0}}))
    assert not {("listen", "inet:127.0.0.1:8080")} & anomalies(verdict, "missing")
    assert verdict.verdict == "pass", verdict.reasons


def test_a_feature_the_canary_holds_is_not_missing():
    log = ("file", "/var/log/app/<n>.log:w")  # opened in every baseline window
    canary = canary_profile(with_startup=False)
    canary = replace(canary, windows=[replace(w, counts={k: n for k, n in w.counts.items() if k != log})
                                      for w in canary.windows])
    assert log in anomalies(judge(attached_baseline(), canary, load_config({"stability": {"missing_min_rate": 0}})),
                            "missing")
    held = replace(canary, windows=[replace(canary.windows[0], inventory=frozenset({log})), *canary.windows[1:]])
    verdict = judge(attached_baseline(), held, load_config({"stability": {"missing_min_rate": 0}}))
    assert log not in anomalies(verdict, "missing")


def test_a_listener_an_attached_canary_already_held_is_news_when_the_baseline_never_had_it():
    canary = canary_profile(with_startup=False)
    canary = replace(canary, windows=[replace(canary.windows[0], inventory=frozenset({**HELD, **NEW_PORT})),
                                      *canary.windows[1:]])
    verdict = judge(attached_baseline(), canary, load_config({}))
    assert verdict.verdict == "pause"
    assert anomalies(verdict, "new") == set(NEW_PORT)
    assert all("held" in a.reason for a in verdict.anomalies if a.change == "new")


# --- a file opened at start-up and held while serving (a log or journal switched on) -----

DEBUG_LOG = {("file", "/var/log/app-debug.log:w"): 1}


def held_after_start_up(profile: Profile, held: dict) -> Profile:
    """The probe's inventory when the canary's start-up span ended (its window 1)."""
    second = replace(profile.windows[1], inventory=frozenset(held))
    return replace(profile, windows=[profile.windows[0], second, *profile.windows[2:]])


def test_a_file_opened_at_start_up_and_still_held_after_it_warns():
    canary = held_after_start_up(fresh_canary(start={**START, **DEBUG_LOG}), {**HELD, **DEBUG_LOG})
    verdict = judge(attached_baseline(), canary, load_config({}))
    assert verdict.verdict == "warn", verdict.reasons
    (log,) = [a for a in verdict.anomalies if (a.kind, a.key) == ("file", "/var/log/app-debug.log:w")]
    assert log.change == "new" and "held" in log.reason
    assert "every canary window" in " ".join(verdict.reasons)


def test_the_same_file_opened_and_closed_at_start_up_stays_unverified():
    canary = held_after_start_up(fresh_canary(start={**START, **DEBUG_LOG}), HELD)
    verdict = judge(attached_baseline(), canary, load_config({}))
    assert verdict.verdict == "pass", verdict.reasons
    assert ("file", "/var/log/app-debug.log:w") not in anomalies(verdict, "new")


def test_what_the_baseline_also_holds_is_no_news_after_the_canary_start_up():
    canary = held_after_start_up(fresh_canary(), HELD)
    verdict = judge(attached_baseline(), canary, load_config({}))
    assert verdict.verdict == "pass", verdict.reasons
    assert verdict.anomalies == [], [a.reason for a in verdict.anomalies]


# --- a file first opened for writing after the start-up, then kept (a logger opening its file
# on its first line): the probe lists it in a later window's inventory (late_writes.py) ---------

def opened_late(profile: Profile, opened_in: int, held_in: Optional[int]) -> Profile:
    """DEBUG_LOG counted once, in steady window `opened_in`, and held in window `held_in`'s inventory."""
    windows = list(profile.windows)
    windows[opened_in] = replace(windows[opened_in], counts={**windows[opened_in].counts, **DEBUG_LOG})
    if held_in is not None:
        windows[held_in] = replace(windows[held_in], inventory=windows[held_in].inventory | frozenset(DEBUG_LOG))
    return replace(profile, windows=windows)


def test_a_file_opened_after_the_start_up_and_held_later_warns_as_held_while_serving():
    canary = opened_late(held_after_start_up(fresh_canary(), HELD), opened_in=4, held_in=6)
    verdict = judge(attached_baseline(), canary, load_config({}))
    assert verdict.verdict == "warn", verdict.reasons
    (log,) = [a for a in verdict.anomalies if (a.kind, a.key) == ("file", "/var/log/app-debug.log:w")]
    assert log.change == "new" and "held in an inventory taken after the canary's start-up" in log.reason


def test_the_same_file_opened_once_after_the_start_up_and_not_held_is_a_one_off():
    canary = opened_late(held_after_start_up(fresh_canary(), HELD), opened_in=4, held_in=None)
    verdict = judge(attached_baseline(), canary, load_config({}))
    assert verdict.verdict == "pass", verdict.reasons
    assert ("file", "/var/log/app-debug.log:w") not in anomalies(verdict)


# --- the canary's start command: a launcher that execs the program the baseline runs --------

SETPRIV, APP, CURL = "/usr/bin/setpriv", "/usr/bin/app", "/usr/bin/curl"


def launched_by(profile: Profile, launcher: str, runs: tuple[str, ...] = (APP,)) -> Profile:
    """Window 0 as the probe's lineage shows `launcher APP`: the workload's first program (exec'd
    by no process the probe saw exec: a rollout's launcher) exec'd `runs` and was gone."""
    from gate_contract.profile import ProgramFacts

    first = profile.windows[0]
    lineage = (ProgramFacts(launcher, frozenset(), frozenset(("exec", program) for program in runs)),
               *(ProgramFacts(program, frozenset({launcher}), frozenset({("syscall", "read")})) for program in runs))
    counts = {**first.counts, ("exec", launcher): 1, **{("exec", program): 1 for program in runs}}
    return replace(profile, windows=[replace(first, counts=counts, programs=lineage), *profile.windows[1:]])


def test_a_launcher_that_execs_the_program_the_baseline_runs_is_the_start_command_not_news():
    # Postgres started as `setpriv --reuid postgres ... postgres`: the baseline attached to postgres,
    # whose inventory names it; the setpriv before it is gone long before any recording attaches.
    verdict = judge(attached_baseline(), launched_by(fresh_canary(), SETPRIV), load_config({}))
    assert verdict.verdict == "pass", verdict.reasons
    assert ("exec", SETPRIV) not in anomalies(verdict)
    assert any(SETPRIV in note and "start command" in note for note in verdict.notes), verdict.notes


def test_a_launcher_that_also_runs_a_program_the_baseline_never_runs_is_judged():
    verdict = judge(attached_baseline(), launched_by(fresh_canary(), SETPRIV, runs=(APP, CURL)), load_config({}))
    assert {("exec", SETPRIV), ("exec", CURL)} <= anomalies(verdict, "unverified")


def test_a_launcher_of_a_program_the_baseline_never_runs_is_judged():
    canary = launched_by(fresh_canary(), SETPRIV, runs=("/usr/bin/other-app",))
    verdict = judge(attached_baseline(), canary, load_config({}))
    assert ("exec", SETPRIV) in anomalies(verdict, "unverified")


def test_a_program_run_past_start_up_is_no_start_command_whoever_started_it():
    canary = launched_by(fresh_canary(), SETPRIV)
    later = replace(canary.windows[3], counts={**canary.windows[3].counts, ("exec", SETPRIV): 1})
    canary = replace(canary, windows=[*canary.windows[:3], later, *canary.windows[4:]])
    verdict = judge(attached_baseline(), canary, load_config({}))
    assert verdict.verdict == "pause", verdict.reasons
    assert ("exec", SETPRIV) in anomalies(verdict, "new")


# --- a unix socket the baseline binds: its directory is one the baseline writes to -------------

SOCKET_HELD = {**HELD, ("bind", "unix:/run/app/app.sock"): 1, ("listen", "unix:/run/app/app.sock"): 1}
SOCKET_LOCK = {("file", "/run/app/app.sock.lock:rw"): 1}


def test_a_lock_file_beside_the_socket_the_baseline_binds_is_no_write_outside_known_directories():
    # Postgres writes .s.PGSQL.<port>.lock beside its socket at start-up: binding the socket is a
    # write in that directory too, so the baseline attached to it writes there.
    verdict = judge(attached_baseline(SOCKET_HELD), fresh_canary({**START, **SOCKET_HELD, **SOCKET_LOCK}),
                    load_config({}))
    assert verdict.verdict == "pass", verdict.reasons
    assert ("file", "/run/app/app.sock.lock:rw") not in anomalies(verdict)


def test_a_write_elsewhere_at_start_up_stays_an_unverified_write_outside_known_directories():
    elsewhere = {("file", "/run/other/app.lock:rw"): 1}
    verdict = judge(attached_baseline(SOCKET_HELD), fresh_canary({**START, **SOCKET_HELD, **elsewhere}),
                    load_config({}))
    (lock,) = [a for a in verdict.anomalies if a.key == "/run/other/app.lock:rw"]
    assert (lock.change, lock.rule) == ("unverified", "new_write_path")


# --- recurrence past start-up is counted past start-up -------------------------------------

def with_counts(profile: Profile, counts: dict, windows) -> Profile:
    return replace(profile, windows=[replace(w, counts={**w.counts, **counts}) if i in set(windows) else w
                                     for i, w in enumerate(profile.windows)])


def test_a_feature_seen_at_start_up_and_once_past_it_is_a_one_off_not_news():
    # A database forks a backend for its first clients at start-up and one worker later on
    # (setsid, signalfd4, a fork): past its start-up the canary did it once, as a one-off.
    once = {("syscall", "setsid"): 1, ("syscall", "signalfd4"): 1}
    verdict = judge(attached_baseline(), with_counts(fresh_canary(), once, [0, 5]), load_config({}))
    assert verdict.verdict == "pass", verdict.reasons
    assert not anomalies(verdict) & set(once), [a.reason for a in verdict.anomalies]


def test_a_feature_recurring_past_start_up_is_news_and_counted_in_every_window_it_was_seen():
    recurring = {("syscall", "setsid"): 1}
    verdict = judge(attached_baseline(), with_counts(fresh_canary(), recurring, [0, 4, 7]), load_config({}))
    (setsid,) = [a for a in verdict.anomalies if a.key == "setsid"]
    assert (setsid.change, setsid.canary_windows_seen) == ("new", 3)
    everywhere = judge(attached_baseline(), with_counts(fresh_canary(), recurring, range(10)), load_config({}))
    assert everywhere.verdict == "warn" and "in every canary window" in everywhere.reasons[0]


# --- a start-up is one occurrence, however many windows it spans --------------------------

# What a Python server's start makes once and never again (issue 23's webapp under emulation).
START_SYSCALLS = {("syscall", name): 1 for name in ("bind", "listen", "epoll_create1", "getcwd", "getegid", "geteuid",
                                                    "getuid", "getgid", "gettid", "mprotect", "sysinfo", "uname",
                                                    "prlimit64", "set_robust_list")}


def with_startup_marks(profile: Profile, windows) -> Profile:
    return replace(profile, windows=[replace(w, startup=i in set(windows)) for i, w in enumerate(profile.windows)])


def test_a_start_up_spread_over_two_windows_is_one_start_not_two_occurrences():
    one_window = fresh_canary({**START, **START_SYSCALLS})
    two_windows = with_startup_marks(with_counts(one_window, START_SYSCALLS, [1]), [0, 1])
    for canary in (one_window, two_windows):
        verdict = judge(attached_baseline(), canary, load_config({}))
        # a syscall is news from its second occurrence; one start is one
        assert verdict.verdict == "pass", verdict.reasons
        assert not anomalies(verdict) & set(START_SYSCALLS), [a.reason for a in verdict.anomalies]


def test_the_same_start_up_syscall_in_two_starts_recurs():
    # the canary restarted (its windows 0 and 5 are start-ups): two starts, two occurrences
    canary = with_startup_marks(with_counts(fresh_canary(), START_SYSCALLS, [0, 5]), [0, 5])
    verdict = judge(attached_baseline(), canary, load_config({}))
    assert anomalies(verdict, "unverified") >= set(START_SYSCALLS), [a.reason for a in verdict.anomalies]
