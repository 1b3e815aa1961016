"""``GET /healthz``: database and Redis status. 503 only when the database is down."""

from __future__ import annotations

from flask import Blueprint, jsonify

from contentflow.extensions import csrf, limiter
from contentflow.services import health

bp = Blueprint("health", __name__)


@bp.get("/healthz")
@limiter.exempt
@csrf.exempt
def healthz():
    checks = health.check()
    status = "ok" if all(v == "ok" for v in checks.values()) else "degraded"
    if checks["database"] != "ok":
        status = "down"
    return jsonify(status=status, **checks), (503 if status == "down" else 200)
