"""Human durations, the one parser of them: `500ms`, `90s`, `15m`, `1h`, `7d`, `2w`.

In the contract because the probe (which never imports gate_server) parses its
--duration and --window with it, as the server's CLI parses --older-than and
--recent. The Action runs without this repository and keeps a copy
(action/gate_client/inputs.py: seconds); tests/action/test_durations.py keeps the copy
equal to this one.
"""

from __future__ import annotations

import re
from datetime import timedelta

UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_PATTERN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?\s*$")


def seconds(text: str, *, unit_required: bool = False, allow_zero: bool = False) -> float:
    """`"15m"` -> 900.0; a bare number is seconds unless `unit_required`. Raises
    ValueError naming the accepted forms on anything else, and on zero unless `allow_zero`."""
    match = _PATTERN.match(text or "")
    if not match or (unit_required and not match.group(2)):
        raise ValueError(f"invalid duration {text!r}: use a number and a unit ms, s, m, h, d or w (e.g. 30s, 7d)")
    amount = float(match.group(1)) * UNIT_SECONDS[match.group(2) or "s"]
    if amount <= 0 and not (allow_zero and amount == 0):
        raise ValueError(f"invalid duration {text!r}: must be greater than zero")
    return amount


def parse_duration(text: str) -> timedelta:
    """`"7d"` -> 7 days, for the server's commands: the unit is required (is `30` seconds or days?)."""
    return timedelta(seconds=seconds(text, unit_required=True))
