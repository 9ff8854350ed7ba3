"""Which files opened for writing after a workload's start-up the probe lists as held
while serving: held at the drain of the window that opened them and still at the next
(host_probe/recording/late_writes.py). The real process: tests/probe/test_startup.py."""

from __future__ import annotations

from host_probe.recording.late_writes import MAX_COUNTED, LateWrites

LOG = ("file", "/srv/app/log/debug.log:w")
TEMP = ("file", "/srv/app/cache/entry.tmp:rw")
CONFIG = ("file", "/srv/app/app.conf:r")


def test_a_file_held_at_two_drains_is_listed_at_the_second():
    late = LateWrites()
    opened = late.new_opens({LOG: 1, CONFIG: 3, ("syscall", "write"): 9})
    assert opened == {LOG}  # reads and syscalls are no candidates
    assert late.still_held(opened, {LOG: 1, CONFIG: 1}) == set()
    assert late.still_held(late.new_opens({}), {LOG: 1}) == {LOG}
    assert not late.needs_a_look(late.new_opens({LOG: 1}))  # counted before: no candidate again


def test_a_file_open_at_one_drain_only_is_not_listed():
    late = LateWrites()
    opened = late.new_opens({TEMP: 1})
    assert late.still_held(opened, {TEMP: 1}) == set()
    assert late.still_held(late.new_opens({}), {}) == set()
    assert not late.needs_a_look(late.new_opens({}))  # nothing pending: /proc is not read


def test_a_pending_file_is_forgotten_when_the_start_up_begins_again():
    late = LateWrites()
    late.still_held(late.new_opens({LOG: 1}), {LOG: 1})
    late.forget_pending()
    assert late.still_held(set(), {LOG: 1}) == set()


def test_past_its_bound_no_new_file_is_followed():
    late = LateWrites()
    late.new_opens({("file", f"/srv/app/out/{n}.dat:w"): 1 for n in range(MAX_COUNTED)})
    assert late.new_opens({LOG: 1}) == set() and len(late.counted) == MAX_COUNTED
