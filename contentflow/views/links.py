"""``GET /l/<code>``: the tracked redirect (hot path)."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("links", __name__)
