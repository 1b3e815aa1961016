"""``GET /healthz``: database and Redis status. 503 only when the database is down."""

from __future__ import annotations

import logging

from flask import Blueprint, jsonify
from sqlalchemy import text

from contentflow.extensions import csrf, db, limiter
from contentflow.queueing import redis_connection

bp = Blueprint("health", __name__)
log = logging.getLogger(__name__)


@bp.get("/healthz")
@limiter.exempt
@csrf.exempt
def healthz():
    checks = {"database": "ok", "redis": "ok"}
    try:
        db.session.execute(text("SELECT 1"))
    except Exception:  # any driver error means "down" here
        log.warning("healthz: database down", exc_info=True)
        checks["database"] = "down"
        db.session.rollback()
    try:
        redis_connection().ping()
    except Exception:
        log.warning("healthz: redis down", exc_info=True)
        checks["redis"] = "down"
    status = "ok" if all(v == "ok" for v in checks.values()) else "degraded"
    if checks["database"] != "ok":
        status = "down"
    return jsonify(status=status, **checks), (503 if status == "down" else 200)
