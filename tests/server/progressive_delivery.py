"""Stand-ins for the two progressive-delivery controllers, speaking each one's contract with a
webhook as their docs and sources state it, driven by the files we ship for them.

Argo Rollouts' web metric provider (docs/analysis/web.md; metricproviders/webmetric): the
template's `{{args.*}}` substituted, `jsonBody` sent as JSON, a non-2xx answer is an Error,
`jsonPath` picks the result, and the conditions (expr) decide: failure first, then success,
neither is Inconclusive. The AnalysisRun fails past `failureLimit` failures, goes
Inconclusive past `inconclusiveLimit`, errs past `consecutiveErrorLimit`.

Flagger (docs/usage/webhooks.md; pkg/controller/webhook.go): POST `{name, namespace, phase,
checksum, metadata}` as JSON; a 2xx answer passes, anything else fails. A failed rollout
hook counts towards the analysis `threshold`, then the canary is rolled back; a failed
confirm-promotion hook holds the promotion until a later interval.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
import yaml

DEPLOY = Path(__file__).resolve().parents[2] / "docs" / "deploy"
ARGS = re.compile(r"\{\{\s*args\.([A-Za-z0-9_-]+)\s*\}\}")


def _substitute(node: Any, args: dict[str, str]) -> Any:
    if isinstance(node, str):
        return ARGS.sub(lambda match: args[match.group(1)], node)
    if isinstance(node, dict):
        return {key: _substitute(value, args) for key, value in node.items()}
    if isinstance(node, list):
        return [_substitute(value, args) for value in node]
    return node


def _json_path(document: Any, path: str) -> Any:
    """Kubernetes JSONPath as the web provider uses it, for the `{$.a.b}` form."""
    match = re.fullmatch(r"\{\$((?:\.[A-Za-z0-9_]+)*)\}", path)
    assert match, f"unsupported jsonPath {path!r}"
    for part in filter(None, match.group(1).split(".")):
        document = document[part]
    return document


def _expr(condition: str, result: Any) -> bool:
    # The conditions the template uses (==, in [..]) mean the same in expr and in Python.
    return bool(eval(condition, {"__builtins__": {}}, {"result": result}))  # noqa: S307


@dataclass
class AnalysisRun:
    phase: str = "Running"
    measurements: list[str] = field(default_factory=list)


def argo_analysis(template_path: Path, args: dict[str, str], secrets: dict[str, str]) -> AnalysisRun:
    template = yaml.safe_load(template_path.read_text())
    values: dict[str, str] = {}
    for arg in template["spec"]["args"]:
        if arg["name"] in args:
            values[arg["name"]] = args[arg["name"]]
        elif "valueFrom" in arg:
            values[arg["name"]] = secrets[arg["valueFrom"]["secretKeyRef"]["name"]]
        else:
            values[arg["name"]] = arg["value"]
    metric = _substitute(template["spec"]["metrics"][0], values)
    web = metric["provider"]["web"]
    run = AnalysisRun()
    failed = inconclusive = consecutive_errors = 0
    for _ in range(int(metric.get("count", 1))):
        headers = {header["key"]: header["value"] for header in web.get("headers", [])}
        body = json.dumps(web["jsonBody"]) if "jsonBody" in web else web.get("body")
        if "jsonBody" in web:
            headers.setdefault("Content-Type", "application/json")
        response = requests.request(web.get("method", "GET"), web["url"], headers=headers, data=body,
                                    timeout=float(web.get("timeoutSeconds", 10)))
        if not 200 <= response.status_code < 300:
            run.measurements.append("Error")
            consecutive_errors += 1
            if consecutive_errors > int(metric.get("consecutiveErrorLimit", 4)):
                run.phase = "Error"
                return run
            continue
        consecutive_errors = 0
        result = _json_path(response.json(), web["jsonPath"])
        if metric.get("failureCondition") and _expr(metric["failureCondition"], result):
            outcome = "Failed"
        elif metric.get("successCondition") and _expr(metric["successCondition"], result):
            outcome = "Successful"
        else:
            outcome = "Inconclusive"
        run.measurements.append(outcome)
        failed += outcome == "Failed"
        inconclusive += outcome == "Inconclusive"
        if failed > int(metric.get("failureLimit", 0)):
            run.phase = "Failed"
            return run
        if inconclusive > int(metric.get("inconclusiveLimit", 0)):
            run.phase = "Inconclusive"
            return run
    run.phase = "Successful"
    return run


@dataclass
class CanaryRun:
    phase: str = "Progressing"
    calls: list[tuple[str, int]] = field(default_factory=list)


def _call_webhook(hook: dict, canary: dict, phase: str, checksum: str) -> int:
    payload = {"name": canary["metadata"]["name"], "namespace": canary["metadata"]["namespace"],
               "phase": phase, "checksum": checksum, "metadata": hook.get("metadata", {})}
    timeout = float(str(hook.get("timeout", "10s")).rstrip("s"))
    response = requests.post(hook["url"], data=json.dumps(payload), timeout=timeout,
                             headers={"Content-Type": "application/json"})
    return response.status_code


def flagger_analysis(canary: dict, *, checksum: str, iterations: int) -> CanaryRun:
    """Flagger's analysis loop over the Canary's webhooks, one interval per iteration."""
    analysis = canary["spec"]["analysis"]
    hooks = analysis["webhooks"]
    run = CanaryRun()
    failed_checks, weight = 0, 0
    for _ in range(iterations):
        if weight < analysis["maxWeight"]:
            for hook in (h for h in hooks if h["type"] == "rollout"):
                status = _call_webhook(hook, canary, "Progressing", checksum)
                run.calls.append((hook["type"], status))
                if not 200 <= status < 300:
                    failed_checks += 1
                    if failed_checks >= analysis["threshold"]:
                        run.phase = "Failed"  # rolled back
                        return run
                    break
            else:
                weight += analysis["stepWeight"]
            continue
        promotable = True
        for hook in (h for h in hooks if h["type"] == "confirm-promotion"):
            status = _call_webhook(hook, canary, "Promoting", checksum)
            run.calls.append((hook["type"], status))
            promotable = promotable and 200 <= status < 300
        if promotable:
            run.phase = "Succeeded"
            return run
    return run
