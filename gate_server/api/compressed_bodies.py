"""Request bodies sent with `Content-Encoding: gzip` (the probe's uploads), as
WSGI middleware: the body is inflated before Flask sees it, so every view, and
Flask's own size limit, reads the decompressed JSON.

Inflating is bounded: at most `max_bytes` come out, whatever the compression
ratio (a few kilobytes of gzip can claim gigabytes: a zip bomb), and past it
the answer is a 413 that says so. The route's own limit (GATE_MAX_REQUEST_BYTES,
or GATE_MAX_INGEST_BYTES for uploads) then applies to the decompressed size."""

from __future__ import annotations

import io
import json
import zlib
from typing import Callable, Iterable

GZIP_WBITS = 16 + zlib.MAX_WBITS  # a gzip header and trailer, not a bare zlib stream


def _json_error(start_response: Callable, status: int, reason: str, message: str) -> Iterable[bytes]:
    body = json.dumps({"error": message, "status": status}).encode()
    start_response(f"{status} {reason}", [("Content-Type", "application/json"),
                                          ("Content-Length", str(len(body)))])
    return [body]


class GzipRequestBodies:
    def __init__(self, wsgi_app: Callable, max_bytes: int):
        self.wsgi_app = wsgi_app
        self.max_bytes = max_bytes

    def __call__(self, environ: dict, start_response: Callable):
        encoding = environ.get("HTTP_CONTENT_ENCODING", "").strip().lower()
        if not encoding or encoding == "identity":
            return self.wsgi_app(environ, start_response)
        if encoding != "gzip":
            return _json_error(start_response, 415, "Unsupported Media Type",
                               f"Content-Encoding {encoding!r} is not supported: send gzip or none")
        compressed = environ["wsgi.input"].read(self.max_bytes + 1)
        if len(compressed) > self.max_bytes:
            return self._too_large(start_response, "compressed")
        inflater = zlib.decompressobj(GZIP_WBITS)
        try:
            body = inflater.decompress(compressed, self.max_bytes + 1)
        except zlib.error:
            return _json_error(start_response, 400, "Bad Request", "the request body is not valid gzip")
        if len(body) > self.max_bytes or inflater.unconsumed_tail:
            return self._too_large(start_response, "decompressed")
        if not inflater.eof:
            return _json_error(start_response, 400, "Bad Request", "the gzip request body is cut short")
        environ = dict(environ, CONTENT_LENGTH=str(len(body)))
        environ["wsgi.input"] = io.BytesIO(body)
        environ.pop("HTTP_CONTENT_ENCODING")
        environ.pop("HTTP_TRANSFER_ENCODING", None)
        environ["wsgi.input_terminated"] = True
        return self.wsgi_app(environ, start_response)

    def _too_large(self, start_response: Callable, which: str) -> Iterable[bytes]:
        return _json_error(start_response, 413, "Request Entity Too Large",
                           f"the {which} request body is larger than the server inflates ({self.max_bytes} bytes: "
                           "the larger of GATE_MAX_REQUEST_BYTES and GATE_MAX_INGEST_BYTES)")
