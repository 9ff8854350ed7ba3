"""Human durations on the command line: `90s`, `15m`, `1h`, `7d`, `2w`."""

from __future__ import annotations

import re
from datetime import timedelta

_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_PATTERN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")


def parse_duration(text: str) -> timedelta:
    """`"7d"` -> 7 days. Raises ValueError with the accepted forms on anything else."""
    match = _PATTERN.match(text or "")
    if not match:
        raise ValueError(f"invalid duration {text!r}: use a number and a unit s, m, h, d or w (e.g. 30d)")
    amount = float(match.group(1))
    if amount <= 0:
        raise ValueError(f"invalid duration {text!r}: must be greater than zero")
    return timedelta(**{_UNITS[match.group(2)]: amount})
