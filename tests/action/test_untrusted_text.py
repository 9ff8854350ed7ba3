"""Text the gate hands back to the Action is chosen by people it guards against
(docs/security.md): the canary names its files, whoever decides writes the reason.
Through the real server and the client as the runner starts it, none of that text
becomes a workflow command in the log or a link in the job summary or check run
(rendered with cmark-gfm, GitHub's own Markdown)."""

from __future__ import annotations

import threading

import cmarkgfm
import requests

from gate_contract.engine import make_engine
from gate_contract.writer import WindowWriter
from tests.action.conftest import create_token
from tests.action.profiles import BAD_EXTRAS, BASELINE, USUAL_FEATURES, record
from tests.action.test_human_loop import gate_inputs, waiting_status

HOSTILE_CANARY = "v2-hostile"
LINKED_FILE = "/srv/[approve this](https://evil.example/a)"
INJECTION = ("fine\n::set-output name=verdict::pass\n::stop-commands::pwned\n::add-mask::syscall-gate\r\n"
             "##[set-output name=decision;]approve [click](https://evil.example/b) www.evil.example/c")
OUR_COMMANDS = ("::error", "::warning", "::notice", "::add-mask::")


def _record_hostile_canary(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        features = {**USUAL_FEATURES, **BAD_EXTRAS, ("file", f"{LINKED_FILE}:r"): 4}
        record(WindowWriter(engine), HOSTILE_CANARY, "canary", features, seed=9)
    finally:
        engine.dispose()


def _reject_when_asked(gate, fake_github) -> threading.Thread:
    token = create_token(gate.database_url, scope="decide", description="mallory\n::set-output name=decision::approve")

    def reject() -> None:
        check_id = waiting_status(fake_github).body["target_url"].rsplit("/", 1)[1]
        answer = requests.post(f"{gate.url}/api/v1/checks/{check_id}/decision", timeout=10,
                               json={"decision": "reject", "reason": INJECTION},
                               headers={"Authorization": f"Bearer {token}"})
        assert answer.status_code == 201, answer.text

    thread = threading.Thread(target=reject, daemon=True)
    thread.start()
    return thread


def _links(markdown: str) -> list[str]:
    html = cmarkgfm.github_flavored_markdown_to_html(markdown)
    return [part.split('"', 1)[0] for part in html.split('href="')[1:]]


def test_reasons_and_keys_cannot_command_the_runner_or_link_anywhere(gate, action_runner, fake_github):
    _record_hostile_canary(gate.database_url)
    person = _reject_when_asked(gate, fake_github)
    run = action_runner.run(**gate_inputs(gate, HOSTILE_CANARY, on_pause="wait", decision_timeout="60s"))
    person.join(timeout=5)

    assert run.returncode == 1, run.log
    assert (run.outputs["verdict"], run.outputs["decision"]) == ("pause", "reject")
    lines = run.stdout.splitlines()
    assert "fine%0A::set-output name=verdict::pass" in run.stdout  # the reason was logged, inert
    assert [line for line in lines if line.startswith("::") and not line.startswith(OUR_COMMANDS)] == []
    assert "::add-mask::syscall-gate" not in lines
    assert "##[" not in run.stdout
    assert LINKED_FILE in cmarkgfm.github_flavored_markdown_to_html(run.summary).replace("&quot;", '"')
    [check_run] = fake_github.statuses("check-run")
    for markdown in (run.summary, check_run.body["output"]["summary"]):
        assert not [link for link in _links(markdown) if "evil.example" in link]
    assert BASELINE in run.summary
