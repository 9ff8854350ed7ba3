"""After the verdict, the people in the loop: wait for someone to approve or
reject a paused check (on-pause: wait), and promote the canary to the service's
baseline after the final stage went through (promote-on-success)."""

from __future__ import annotations

from typing import Callable, Optional

from . import workflow_commands as wf
from .decision import EXIT_BREACH, Outcome, decide_after_decision, decide_without_decision
from .gate_api import GateClient, GateError
from .inputs import ActionInputs, duration_text
from .rollout import decided_by


def should_wait(inputs: ActionInputs, outcome: Outcome, document: Optional[dict]) -> bool:
    """Only a breach waits (a verdict that would fail the step), and only with a check to decide on."""
    return (inputs.on_pause == "wait" and not inputs.report_only and outcome.exit_code == EXIT_BREACH
            and bool(document) and document.get("id") is not None)


def await_decision(client: GateClient, inputs: ActionInputs, breach: Outcome, document: dict,
                   post_pending: Callable[[str, str], None]) -> Outcome:
    """Poll the check until a person decides or decision-timeout passes; the outcome that follows."""
    check_url = str(document.get("url") or "")
    timeout = duration_text(inputs.decision_timeout)
    post_pending(f"{breach.verdict}: waiting up to {timeout} for a person to approve or reject on the check page",
                 check_url)
    wf.notice(f"{breach.headline}. Waiting up to {timeout} for a decision: approve or reject at "
              f"{check_url or 'the gate dashboard'} (or gate-server checks decide {document['id']})",
              title=inputs.status_context)

    def waiting(remaining: float) -> None:
        wf.log(f"no decision on check {document['id']} yet; {remaining:.0f}s left of decision-timeout")

    try:
        decision = client.wait_for_decision(int(document["id"]), inputs.decision_timeout, inputs.poll_interval,
                                            on_waiting=waiting)
    except GateError as exc:
        return decide_without_decision(breach, inputs.decision_timeout, f"could not read the check's decision ({exc})")
    if decision is None:
        return decide_without_decision(breach, inputs.decision_timeout)
    wf.log(f"check {document['id']}: {decision.get('decision')} by {decided_by(decision)}: {decision.get('reason')}")
    return decide_after_decision(breach, decision)


def should_promote(inputs: ActionInputs, outcome: Outcome, document: Optional[dict]) -> bool:
    """A pass, or a breach a person approved, on the stage the workflow calls final."""
    if not (inputs.promote_on_success and inputs.final_stage and document):
        return False
    approved = (outcome.decision or {}).get("decision") == "approve"
    return outcome.proceeds and (outcome.verdict == "pass" or approved)


def promote(client: GateClient, inputs: ActionInputs, run_url: str) -> bool:
    """The canary becomes the service's baseline (what baseline-version: current names)."""
    where = f" in {run_url}" if run_url else ""
    reason = f"went through the final stage {inputs.stage or '(unnamed)'}{where}"
    try:
        client.promote(inputs.service, inputs.canary_version, reason, token=inputs.promote_token)
    except GateError as exc:
        wf.warning(f"could not promote {inputs.canary_version} to the baseline of {inputs.service}: {exc}",
                   title=inputs.status_context)
        return False
    wf.notice(f"promoted {inputs.canary_version} to the baseline of {inputs.service} (baseline-version: current)",
              title=inputs.status_context)
    return True
