"""Responses shared by the views."""

from __future__ import annotations

from typing import Any

from flask import jsonify


def created(document: dict[str, Any]):
    """201 with the stored thing's document."""
    response = jsonify(document)
    response.status_code = 201
    return response
