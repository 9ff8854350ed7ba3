"""The key that signs dashboard session cookies, shared by every gunicorn worker.

GATE_SECRET_KEY wins when set (and must be, when several hosts serve one database).
Otherwise one key is generated per data dir and kept in `<data dir>/secret_key`
(mode 0600): every worker on the host reads the same file, so a session made by one
worker is valid in the others and survives restarts.
"""

from __future__ import annotations

import os
import secrets
import tempfile
from pathlib import Path

from gate_server.settings import Settings

KEY_FILE = "secret_key"


def session_secret(settings: Settings) -> str:
    if settings.secret_key:
        return settings.secret_key
    return load_or_create(Path(settings.data_dir) / KEY_FILE)


def load_or_create(path: Path) -> str:
    try:
        return _read(path)
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    # Write the whole key to a private temp file, then link it into place: link fails if
    # another worker won the race, and nobody can ever read a half-written key.
    fd, temp_name = tempfile.mkstemp(prefix=".secret_key.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_hex(32))
        try:
            os.link(temp_name, path)
        except FileExistsError:
            pass
    finally:
        os.unlink(temp_name)
    return _read(path)


def _read(path: Path) -> str:
    key = path.read_text().strip()
    if len(key) < 32:
        raise RuntimeError(f"{path} holds a key shorter than 32 characters; delete it to make a new one")
    return key
