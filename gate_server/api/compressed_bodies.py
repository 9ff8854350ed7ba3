"""Request bodies sent with `Content-Encoding: gzip`: the probe's uploads, and nothing else.

A few kilobytes of gzip can claim gigabytes (a zip bomb), so inflating is work an
anonymous caller must not be able to ask for. Only the ingest routes take a gzip
body, and they inflate it in the view, after the token was verified
(`inflated_body`), at most GATE_MAX_INGEST_BYTES whatever the compression ratio.
Every other route refuses a compressed body before reading it (the WSGI middleware
`CompressedBodiesOnIngestOnly`): no client of those routes sends one."""

from __future__ import annotations

import json
import re
import zlib
from typing import Callable, Iterable

from flask import request

from gate_server.api.errors import ApiError

GZIP_WBITS = 16 + zlib.MAX_WBITS  # a gzip header and trailer, not a bare zlib stream
# the ingest blueprint's routes (tests/security/test_edges.py holds every one of them to it)
INGEST_ROUTES = (("PUT", re.compile(r"^/api/v1/recordings/[^/]+(/windows/[^/]+)?/?$")),
                 ("POST", re.compile(r"^/api/v1/windows/?$")))


def is_ingest_route(method: str, path: str) -> bool:
    return any(method == route_method and pattern.match(path) for route_method, pattern in INGEST_ROUTES)


def _encoding(environ: dict) -> str:
    return environ.get("HTTP_CONTENT_ENCODING", "").strip().lower()


def _json_error(start_response: Callable, status: int, reason: str, message: str) -> Iterable[bytes]:
    body = json.dumps({"error": message, "status": status}).encode()
    start_response(f"{status} {reason}", [("Content-Type", "application/json"),
                                          ("Content-Length", str(len(body)))])
    return [body]


class CompressedBodiesOnIngestOnly:
    def __init__(self, wsgi_app: Callable):
        self.wsgi_app = wsgi_app

    def __call__(self, environ: dict, start_response: Callable):
        encoding = _encoding(environ)
        if not encoding or encoding == "identity":
            return self.wsgi_app(environ, start_response)
        if encoding != "gzip":
            return _json_error(start_response, 415, "Unsupported Media Type",
                               f"Content-Encoding {encoding!r} is not supported: send gzip or none")
        if not is_ingest_route(environ.get("REQUEST_METHOD", ""), environ.get("PATH_INFO", "")):
            return _json_error(start_response, 415, "Unsupported Media Type",
                               "a gzip request body is accepted only by the ingest routes "
                               "(PUT /api/v1/recordings/..., POST /api/v1/windows): send this request uncompressed")
        return self.wsgi_app(environ, start_response)


def inflated_body(max_bytes: int) -> bytes:
    """The request's body, inflated if it is gzip, never past `max_bytes` (413).
    Call it only after the caller was authenticated."""
    raw = request.get_data(cache=True)  # 413 past request.max_content_length, before reading
    if _encoding(request.environ) != "gzip":
        return raw
    inflater = zlib.decompressobj(GZIP_WBITS)
    try:
        body = inflater.decompress(raw, max_bytes + 1)
    except zlib.error:
        raise ApiError(400, "the request body is not valid gzip") from None
    if len(body) > max_bytes or inflater.unconsumed_tail:
        raise ApiError(413, f"the decompressed request body is larger than the server inflates ({max_bytes} "
                            "bytes: GATE_MAX_INGEST_BYTES)")
    if not inflater.eof:
        raise ApiError(400, "the gzip request body is cut short")
    return body
