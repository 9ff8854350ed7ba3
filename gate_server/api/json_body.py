"""Decoding a JSON request body into what can be stored and sent back.

No string holds a NUL byte (Postgres refuses them in text) or a lone surrogate (no database
encodes one as UTF-8), no number is one JSON cannot write back (NaN, an infinity), and no body
is nested deeper than any request of this API (Python's parser and encoder recurse). Each
refusal is a 400 naming the field.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any, Iterator

from gate_server.api.errors import ApiError

# The deepest request is a threshold config (config.allow.files.N: 4 levels); a floor's value is 1.
MAX_NESTING = 32
UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
# JSON can carry those characters only as escapes (raw, they are invalid JSON or invalid UTF-8),
# so a body without such an escape needs no look at its strings.
# A pair of surrogate escapes is one character (an emoji, as json.dumps writes it): pairs are
# consumed whole, and a match of the group is a NUL or a lone surrogate.
UNSTORABLE_ESCAPE = re.compile(r"\\u(?:[dD][89abAB][0-9a-fA-F]{2}\\u[dD][c-fC-F][0-9a-fA-F]{2}|"
                               r"(0000|[dD][89a-fA-F][0-9a-fA-F]{2}))")


def decode_object(raw: bytes) -> dict[str, Any]:
    """The body as a JSON object, or a 400 that says what is wrong (and where)."""
    try:
        text = raw.decode("utf-8")  # JSON between systems is UTF-8 (RFC 8259); the checks read the text
    except UnicodeDecodeError as exc:
        raise ApiError(400, f"the request body is not UTF-8 (byte {exc.start}): send JSON encoded as UTF-8") from None
    body = _decode(text)
    if not isinstance(body, dict):
        raise ApiError(400, "the request body must be a JSON object")
    # Each walk only when the text can hold what it looks for (both tests run at C speed).
    if text.count("[") + text.count("{") > MAX_NESTING and _deeper_than(body, MAX_NESTING):
        _check_document(body, check_strings=False)  # finds where, for the message
    if "\\u" in text and any(match.group(1) for match in UNSTORABLE_ESCAPE.finditer(text)):
        _check_document(body, check_strings=True)
    return body


def _deeper_than(body: Any, levels: int) -> bool:
    # Level by level, a flat loop per level: no recursion, and no path kept until one is needed.
    layer = [body]
    for _ in range(levels):
        layer = [item for container in layer
                 for item in (container.values() if type(container) is dict else container)
                 if type(item) is list or type(item) is dict]
        if not layer:
            return False
    return True


def _refuse_constant(name: str) -> Any:
    raise ApiError(400, f"the request body holds {name}, which is not JSON: send a finite number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ApiError(400, f"the number {text} in the request body is out of range: send a finite number")
    return value


def _decode(text: str) -> Any:
    try:
        return json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)
    except RecursionError:
        raise _too_deep(()) from None
    except ValueError:
        raise ApiError(400, "the request body is not valid JSON") from None


def _dotted(path: tuple) -> str:
    return ".".join(str(part) for part in path)


def _too_deep(path: tuple) -> ApiError:
    where = f" at {_dotted(path)!r}" if path else ""
    return ApiError(400, f"the request body is nested deeper than {MAX_NESTING} levels{where}",
                    field=_dotted(path) or None)


def refuse_unstorable(text: str, what: str, field: str) -> None:
    found = UNSTORABLE.search(text)
    if found is None:
        return
    reason = ("a NUL byte (\\u0000)" if found.group() == "\x00"
              else f"a lone surrogate (\\u{ord(found.group()):04x}): send text as valid UTF-8")
    raise ApiError(400, f"{what} must not contain {reason}", field=field or None)


def _children(value: Any, path: tuple) -> Iterator[tuple[Any, tuple]]:
    if isinstance(value, dict):
        for key, item in value.items():
            refuse_unstorable(key, f"a key of {_dotted(path)!r}" if path else "a key of the body", _dotted(path))
            yield item, path + (key,)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield item, path + (index,)


def _check_document(body: dict[str, Any], *, check_strings: bool) -> None:
    """400 naming the field for nesting past MAX_NESTING, or (check_strings) a string that cannot be stored."""
    pending = [(body, ())]
    while pending:
        value, path = pending.pop()
        if isinstance(value, str):
            if check_strings:
                refuse_unstorable(value, f"field {_dotted(path)!r}", _dotted(path))
        elif isinstance(value, (dict, list)):
            if len(path) >= MAX_NESTING:
                raise _too_deep(path)
            # Depth alone: only containers can go deeper.
            pending.extend(child for child in _children(value, path)
                           if check_strings or isinstance(child[0], (dict, list)))
