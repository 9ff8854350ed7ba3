"""One gate step, start to finish: inputs -> config -> check -> outputs,
summary, statuses -> exit code (non-zero pauses the rollout)."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import signal
import sys
import traceback
from pathlib import Path
from typing import Mapping, Optional

from . import human_loop, summary
from . import workflow_commands as wf
from .config import ConfigProblem, load_config, locate_field
from .decision import (EXIT_PROCEED, EXIT_SIGNAL_BASE, EXIT_USAGE, Outcome, as_report_only, decide,
                       decide_cancelled, decide_usage_error, decide_without_verdict)
from .gate_api import GateClient, GateError
from .github_api import GitHubStatuses
from .inputs import ActionInputs, InputError, RunnerContext, read_inputs, read_runner_context, secrets_to_mask
from .oidc_token import github_oidc_token


class Cancelled(Exception):
    """The runner is stopping the step (workflow cancelled): SIGTERM or SIGINT."""

    def __init__(self, signal_number: int):
        super().__init__(signal.Signals(signal_number).name)
        self.signal_number = signal_number


def _raise_cancelled(signal_number: int, frame) -> None:
    raise Cancelled(signal_number)


def _report_path(runner: RunnerContext, stage: str) -> Path:
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", stage).strip("-") or "check"
    return runner.temp_dir / f"syscall-gate-{slug}.json"


def _annotation_file(inputs: ActionInputs, runner: RunnerContext) -> str:
    """The config path as GitHub wants it in an annotation: relative to the repository root."""
    path = Path(inputs.config_path)
    if path.is_absolute():
        try:
            return str(path.relative_to(runner.workspace))
        except ValueError:
            return str(path)
    return inputs.config_path


class GateStep:
    def __init__(self, inputs: ActionInputs, runner: RunnerContext, client: Optional[GateClient] = None):
        self.inputs = inputs
        self.runner = runner
        self.client = client or GateClient(inputs.gate_url, inputs.token,
                                           idempotency_key=runner.idempotency_key(inputs.service, inputs.stage))
        self.github = GitHubStatuses(runner.api_url, runner.repository, inputs.github_token)
        self.sha = runner.commit_under_test()
        self.report_path = _report_path(runner, inputs.stage)
        self.config_file = _annotation_file(inputs, runner)
        self.config_path = Path(inputs.config_path)
        if not self.config_path.is_absolute():
            self.config_path = runner.workspace / self.config_path
        self.config_note = ""
        self.promoted = False

    # -- statuses -----------------------------------------------------------
    def post_statuses(self, commit_state: str, deployment_state: str, description: str, target_url: str) -> None:
        if not self.github.enabled:
            return
        self.github.commit_status(self.sha, commit_state, self.inputs.status_context, target_url, description)
        if self.inputs.deployment_id:
            self.github.deployment_status(
                self.inputs.deployment_id, deployment_state, self.inputs.environment,
                target_url or self.runner.run_url, description,
            )

    # -- config -------------------------------------------------------------
    def read_config(self) -> tuple[Optional[dict], list[ConfigProblem]]:
        loaded = load_config(self.config_path)
        if not loaded.found:
            if self.inputs.config_is_default:
                self.config_note = f"No threshold config at {self.config_file}: the gate applied its default thresholds"
                wf.notice(f"no threshold config at {self.config_file}; the gate applies its default thresholds",
                          title="syscall-gate")
                return None, []
            message = f"the threshold config '{self.config_file}' (input 'config') does not exist"
            return None, [ConfigProblem(message)]
        self.config_note = f"Thresholds from {self.config_file}"
        return loaded.data, loaded.problems

    # -- finishing ----------------------------------------------------------
    def finish(self, outcome: Outcome, document: Optional[dict], error: Optional[str] = None) -> int:
        if self.inputs.report_only:
            outcome = as_report_only(outcome)
        report = document if document is not None else {"verdict": outcome.verdict, "error": error or outcome.headline}
        try:
            self.report_path.parent.mkdir(parents=True, exist_ok=True)
            self.report_path.write_text(json.dumps(report, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        except OSError as exc:
            wf.warning(f"could not write the report {self.report_path}: {exc}")
        check_url = str((document or {}).get("url") or "")
        wf.set_outputs(self.runner.output_path, {
            "verdict": outcome.verdict,
            "score": "" if not document or document.get("score") is None else str(document.get("score")),
            "check-url": check_url,
            "anomalies": json.dumps((document or {}).get("anomalies") or [], separators=(",", ":")),
            "report": str(self.report_path),
            "decision": str((outcome.decision or {}).get("decision") or ""),
            "decided-by": str((outcome.decision or {}).get("by") or ""),
            "promoted": "true" if self.promoted else "false",
        })
        markdown = summary.render(outcome, self.inputs.stage, self.inputs.service, document,
                                  self.config_note or "No config read", str(self.report_path))
        wf.append_summary(self.runner.summary_path, markdown)
        if document:
            summary.annotate_anomalies(document, outcome)
        self.post_statuses(outcome.status_state, outcome.deployment_state, outcome.headline,
                           check_url or self.runner.run_url)
        if self.github.enabled:
            self.github.check_run(self.sha, self.inputs.status_context, _check_run_conclusion(outcome),
                                  check_url or self.runner.run_url, outcome.headline, markdown)
        if not outcome.proceeds:
            level = wf.error
        else:
            level = wf.notice if outcome.verdict == "pass" else wf.warning
        level(outcome.headline, title=self.inputs.status_context)
        return outcome.exit_code

    def run(self) -> int:
        config, problems = self.read_config()
        if problems:
            for problem in problems:
                wf.error(problem.message, file=self.config_file, line=problem.line, col=problem.column,
                         title="syscall-gate config")
            return self.finish(decide_usage_error(f"broken threshold config {self.config_file}: {problems[0].message}"), None)

        payload = {
            "service": self.inputs.service,
            "baseline_version": self.inputs.baseline_version,
            "canary_version": self.inputs.canary_version,
        }
        if self.inputs.stage:
            payload["stage"] = self.inputs.stage
        if config is not None:
            payload["config"] = config
        wf.log(f"checking {self.inputs.service}: canary {self.inputs.canary_version} vs baseline "
               f"{self.inputs.baseline_version} at {self.inputs.gate_url}")
        self.post_statuses("pending", "in_progress", "syscall-gate is comparing the canary with the baseline",
                           self.runner.run_url)
        try:
            result = self.client.wait_for_verdict(
                payload, self.inputs.wait_timeout, self.inputs.poll_interval, on_inconclusive=self._report_waiting,
            )
        except Cancelled as exc:
            return self.finish(decide_cancelled(str(exc), exc.signal_number), None)
        except GateError as exc:
            if exc.status == 422 and exc.field_path and config is not None:
                self._annotate_refused_field(exc)
            return self.finish(decide(None, self.inputs.fail_on, self.inputs.on_gate_error, gate_error=exc.message),
                               None, error=exc.message)
        document = result.document
        wf.log(f"verdict {result.verdict} after {result.attempts} check(s), {result.waited_seconds:.0f}s")
        outcome = decide(document, self.inputs.fail_on, self.inputs.on_gate_error,
                         wait_timeout=self.inputs.wait_timeout)
        if human_loop.should_wait(self.inputs, outcome, document):
            outcome = human_loop.await_decision(
                self.client, self.inputs, outcome, document,
                post_pending=lambda description, url: self.post_statuses("pending", "in_progress", description,
                                                                         url or self.runner.run_url))
        if human_loop.should_promote(self.inputs, outcome, document):
            self.promoted = human_loop.promote(self.client, self.inputs, self.runner.run_url)
        return self.finish(outcome, document)

    def _report_waiting(self, document: dict, remaining: float) -> None:
        reasons = "; ".join(str(r) for r in document.get("reasons") or []) or "not enough observation yet"
        wf.log(f"inconclusive ({reasons}); asking again in {min(self.inputs.poll_interval, remaining):g}s, "
               f"{remaining:.0f}s left of wait-timeout")

    def _annotate_refused_field(self, exc: GateError) -> None:
        line, column = locate_field(self.config_path, exc.field_path or "")
        wf.error(exc.message, file=self.config_file, line=line, col=column, title="syscall-gate config")


def _check_run_conclusion(outcome: Outcome) -> str:
    if outcome.exit_code >= EXIT_SIGNAL_BASE:
        return "cancelled"
    if outcome.report_only:
        return "neutral"
    if (outcome.decision or {}).get("decision") == "timeout":
        return "timed_out"
    return "success" if outcome.exit_code == EXIT_PROCEED else "failure"


def main(env: Mapping[str, str] = os.environ) -> int:
    for secret in secrets_to_mask(env):
        wf.mask(secret)
    try:
        inputs = read_inputs(env)
        if not inputs.token:
            token = github_oidc_token(env, inputs.oidc_audience)
            wf.mask(token)
            inputs = dataclasses.replace(inputs, token=token, promote_token=inputs.promote_token or token)
    except InputError as exc:
        wf.error(str(exc), title="syscall-gate")
        return EXIT_USAGE
    for signal_number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signal_number, _raise_cancelled)
    step = None
    try:
        step = GateStep(inputs, read_runner_context(env))
        return step.run()
    except Exception as exc:  # noqa: BLE001 -- whatever went wrong, on-gate-error decides, not a traceback
        if isinstance(exc, Cancelled):
            outcome = decide_cancelled(str(exc), exc.signal_number)
        else:
            traceback.print_exc(file=sys.stderr)
            outcome = decide_without_verdict(f"the gate client failed ({type(exc).__name__}: {exc})",
                                             inputs.on_gate_error)
        return _finish_anyway(step, outcome)


def _finish_anyway(step: Optional[GateStep], outcome: Outcome) -> int:
    """The outcome's exit code even when reporting it (outputs, summary, statuses) fails too."""
    try:
        if step is not None:
            return step.finish(outcome, None, error=outcome.headline)
    except Exception:  # noqa: BLE001
        traceback.print_exc(file=sys.stderr)
    wf.error(outcome.headline, title="syscall-gate")
    return outcome.exit_code
