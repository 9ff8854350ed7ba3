"""A window says which kernel hook produced each kind of feature (`hooks`): stored
through the real writer on both backends, read back with the window, listed per
side in a check's observation; a window of a probe that did not say still loads."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from gate_server.analysis.observation import observe
from gate_contract.records import WindowRecord
from host_probe.kernel.file_hook import window_hooks
from tests.storage.test_startup_records import recording, stored_profile, window

IN_KERNEL = window_hooks("fentry")
FALLBACK = window_hooks("sys_enter")


def test_hooks_are_stored_read_back_and_listed_per_kind_in_the_observation(engine):
    profile = stored_profile(engine, {"hooks": IN_KERNEL}, {"hooks": FALLBACK}, {})  # the last did not say
    assert [w.hooks for w in profile.windows] == [IN_KERNEL, FALLBACK, {}]
    seen = observe(profile).hooks
    assert seen["file"] == ["fentry:security_file_open", "sys_enter"]
    assert seen["exec"] == ["tracepoint:sched_process_exec"]


def test_a_window_spooled_before_hooks_existed_still_loads():
    document = window(recording(), 3).to_dict()
    del document["hooks"]
    assert WindowRecord.from_dict(document).hooks == {}


@pytest.mark.parametrize("hooks", [{"file": 3}, {"": "sys_enter"}, {"file": "sys\x00enter"}, ["file"]])
def test_malformed_hooks_are_refused(hooks):
    with pytest.raises(ValidationError) as refused:
        WindowRecord.from_dict({**window(recording(), 0).to_dict(), "hooks": hooks})
    assert refused.value.errors()[0]["loc"][0] == "hooks"
