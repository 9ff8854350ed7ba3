"""GitHub Actions workflow commands: annotations, masks, step outputs, job summary.

Escaping follows the runner's own rules (actions/toolkit command.ts): data
escapes %, CR and LF; properties additionally escape ':' and ','. Text the gate
sends back (a decision's reason, a key, a token's description) is the author's or
the canary's to choose, so no line this module prints can carry a command of theirs:
every message is one line, a plain log line starts with `syscall-gate: `, and the
runner's legacy `##[command]` form, which it finds anywhere in a line, is broken up.
"""

from __future__ import annotations

import sys
import uuid
from pathlib import Path
from typing import Optional


LEGACY_COMMAND = "##["


def escape_data(text: str) -> str:
    escaped = str(text).replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return escaped.replace(LEGACY_COMMAND, "#%23[")


def escape_property(text: str) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def command(name: str, message: str = "", **properties: object) -> None:
    props = ",".join(
        f"{key}={escape_property(str(value))}" for key, value in properties.items() if value is not None
    )
    print(f"::{name}{' ' + props if props else ''}::{escape_data(message)}", flush=True)


def mask(secret: str) -> None:
    """Tell the runner to replace the secret with *** in every later log line."""
    if secret:
        command("add-mask", secret)


def notice(message: str, **properties: object) -> None:
    command("notice", message, **properties)


def warning(message: str, **properties: object) -> None:
    command("warning", message, **properties)


def error(message: str, **properties: object) -> None:
    command("error", message, **properties)


def log(message: str) -> None:
    print(f"syscall-gate: {escape_data(message)}", flush=True)


def _append(path: Optional[Path], text: str) -> None:
    if path is None:
        return
    try:
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(text)
    except OSError as exc:
        # Losing an output or the summary must not hide the verdict itself.
        print(f"::warning::could not write {path}: {escape_data(str(exc))}", file=sys.stdout, flush=True)


def set_outputs(output_path: Optional[Path], outputs: dict[str, str]) -> None:
    """Write step outputs with a random heredoc delimiter, so any value (JSON, newlines) is safe."""
    lines = []
    for name, value in outputs.items():
        delimiter = f"ghadelimiter_{uuid.uuid4()}"
        lines.append(f"{name}<<{delimiter}\n{value}\n{delimiter}\n")
    _append(output_path, "".join(lines))


def append_summary(summary_path: Optional[Path], markdown: str) -> None:
    _append(summary_path, markdown if markdown.endswith("\n") else markdown + "\n")
