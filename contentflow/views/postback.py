"""``/aff/postback``: networks report sales server to server (hot path)."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("postback", __name__)
