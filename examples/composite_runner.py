"""Run a composite GitHub Action (action/action.yml) the way a runner does, locally.

For each step: evaluate `if:`, substitute `${{ ... }}` expressions in `run:` and `env:`,
write the script to a file and run it with the step's shell (`bash --noprofile --norc
-eo pipefail`), with the GITHUB_* / RUNNER_* variables a runner sets; collect
`$GITHUB_OUTPUT` into step outputs, then map them to the action's outputs.

Only the expression forms a composite action of ours needs are understood (context
lookups, string literals, ==, !=, &&, ||, !, and the status functions); anything else
stops with an error naming the expression rather than guessing.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from examples.processes import DemoError

EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}", re.S)
TOKEN = re.compile(r"\s*(\|\||&&|==|!=|!|\(|\)|'(?:[^']|'')*'|[A-Za-z_][\w\-.]*(?:\(\))?)")
SHELLS = {"bash": ["bash", "--noprofile", "--norc", "-eo", "pipefail"], "sh": ["sh", "-e"]}


@dataclass
class StepResult:
    name: str
    exit_code: int
    outputs: dict[str, str] = field(default_factory=dict)


@dataclass
class ActionRun:
    exit_code: int
    outputs: dict[str, str]
    steps: list[StepResult]
    log: str


def parse_output_file(text: str) -> dict[str, str]:
    """$GITHUB_OUTPUT lines: name=value, or name<<DELIMITER ... DELIMITER."""
    outputs: dict[str, str] = {}
    lines = iter(text.splitlines())
    for line in lines:
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delimiter = line.split("<<", 1)
            body = []
            for body_line in lines:
                if body_line == delimiter:
                    break
                body.append(body_line)
            outputs[name] = "\n".join(body)
        elif "=" in line:
            name, value = line.split("=", 1)
            outputs[name] = value
    return outputs


class Expressions:
    """A tiny evaluator for GitHub expressions over nested dict contexts."""

    def __init__(self, contexts: dict):
        self.contexts = contexts

    def substitute(self, text: str) -> str:
        return EXPRESSION.sub(lambda m: self.as_string(self.evaluate(m.group(1))), str(text))

    def condition(self, text: str | None) -> bool:
        if text is None:
            return self.contexts["job_status"] == "success"
        inner = EXPRESSION.fullmatch(str(text).strip())
        expression = inner.group(1) if inner else str(text)
        uses_status = re.search(r"\b(always|failure|success|cancelled)\(\)", expression)
        value = self.truthy(self.evaluate(expression))
        return value if uses_status else value and self.contexts["job_status"] == "success"

    @staticmethod
    def as_string(value) -> str:
        if value is None:
            return ""
        if isinstance(value, bool):
            return "true" if value else "false"
        return str(value)

    @staticmethod
    def truthy(value) -> bool:
        return value not in (None, "", False, 0)

    def evaluate(self, expression: str):
        tokens = self._tokenize(expression)
        value, rest = self._or(tokens)
        if rest:
            raise DemoError(f"action.yml expression not understood by the demo's runner: {expression!r}")
        return value

    def _tokenize(self, expression: str) -> list[str]:
        tokens, position = [], 0
        while position < len(expression.rstrip()):
            match = TOKEN.match(expression, position)
            if not match:
                raise DemoError(f"action.yml expression not understood by the demo's runner: {expression!r}")
            tokens.append(match.group(1))
            position = match.end()
        return tokens

    def _or(self, tokens):
        left, tokens = self._and(tokens)
        while tokens[:1] == ["||"]:
            right, tokens = self._and(tokens[1:])
            left = left if self.truthy(left) else right
        return left, tokens

    def _and(self, tokens):
        left, tokens = self._compare(tokens)
        while tokens[:1] == ["&&"]:
            right, tokens = self._compare(tokens[1:])
            left = right if self.truthy(left) else left
        return left, tokens

    def _compare(self, tokens):
        left, tokens = self._unary(tokens)
        while tokens[:1] in (["=="], ["!="]):
            operator = tokens[0]
            right, tokens = self._unary(tokens[1:])
            equal = self.as_string(left).lower() == self.as_string(right).lower()
            left = equal if operator == "==" else not equal
        return left, tokens

    def _unary(self, tokens):
        if not tokens:
            raise DemoError("action.yml: an expression ends too early")
        head, rest = tokens[0], tokens[1:]
        if head == "!":
            value, rest = self._unary(rest)
            return not self.truthy(value), rest
        if head == "(":
            value, rest = self._or(rest)
            return value, rest[1:]
        if head.startswith("'"):
            return head[1:-1].replace("''", "'"), rest
        if head in ("true", "false"):
            return head == "true", rest
        if head.endswith("()"):
            status = self.contexts["job_status"]
            return {"always()": True, "success()": status == "success", "failure()": status == "failure",
                    "cancelled()": False}[head], rest
        return self._lookup(head), rest

    def _lookup(self, dotted: str):
        value = self.contexts
        for part in dotted.split("."):
            if not isinstance(value, dict):
                return None
            value = value.get(part)
        return value


def input_values(action: dict, given: dict[str, str], evaluate: "Expressions") -> dict[str, str]:
    """The workflow's `with:` values, else each input's default (itself an expression)."""
    values = {}
    for name, spec in (action.get("inputs") or {}).items():
        values[name] = given[name] if name in given else evaluate.substitute((spec or {}).get("default", ""))
    unknown = set(given) - set(values)
    if unknown:
        raise DemoError(f"action.yml declares no input named {', '.join(sorted(unknown))}")
    return values


def run_composite(action_dir: Path, inputs: dict[str, str], runner_env: dict[str, str],
                  github: dict[str, str], work_dir: Path, timeout: float) -> ActionRun:
    action = yaml.safe_load((action_dir / "action.yml").read_text())
    if (action.get("runs") or {}).get("using") != "composite":
        raise DemoError(f"{action_dir / 'action.yml'} is not a composite action")
    contexts = {"inputs": {}, "github": dict(github, action_path=str(action_dir)),
                "runner": {"temp": runner_env["RUNNER_TEMP"], "os": "Linux"}, "steps": {},
                "env": {}, "job_status": "success"}
    evaluate = Expressions(contexts)
    contexts["inputs"] = input_values(action, inputs, evaluate)
    steps, log = [], []
    for index, step in enumerate(action["runs"].get("steps") or []):
        name = step.get("name") or step.get("id") or f"step {index + 1}"
        if "run" not in step:
            raise DemoError(f"action.yml step {name!r} uses another action; the demo runs only `run:` steps")
        if not evaluate.condition(step.get("if")):
            continue
        output_file = work_dir / f"step-{index}-output"
        output_file.write_text("")
        script = work_dir / f"step-{index}.sh"
        script.write_text(evaluate.substitute(step["run"]))
        step_env = dict(runner_env, GITHUB_OUTPUT=str(output_file), GITHUB_ACTION_PATH=str(action_dir))
        step_env.update({k: evaluate.substitute(v) for k, v in (step.get("env") or {}).items()})
        shell = SHELLS.get(step.get("shell", "bash"))
        if shell is None:
            raise DemoError(f"action.yml step {name!r}: shell {step.get('shell')!r} is not supported here")
        completed = subprocess.run(shell + [str(script)], env=step_env, cwd=runner_env["GITHUB_WORKSPACE"],
                                   capture_output=True, text=True, timeout=timeout)
        log.append(f"--- step: {name} (exit {completed.returncode})\n{completed.stdout}{completed.stderr}")
        result = StepResult(name, completed.returncode, parse_output_file(output_file.read_text()))
        steps.append(result)
        if step.get("id"):
            contexts["steps"][step["id"]] = {"outputs": result.outputs,
                                             "outcome": "success" if result.exit_code == 0 else "failure"}
        if result.exit_code != 0 and not step.get("continue-on-error"):
            contexts["job_status"] = "failure"
    outputs = {name: evaluate.substitute((spec or {}).get("value", ""))
               for name, spec in (action.get("outputs") or {}).items()}
    exit_code = next((s.exit_code for s in steps if s.exit_code != 0), 0)
    return ActionRun(exit_code, outputs, steps, "\n".join(log))
