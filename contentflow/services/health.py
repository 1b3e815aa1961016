"""Whether the app's database and Redis answer, for ``/healthz`` and the admin dashboard."""

from __future__ import annotations

import logging

from sqlalchemy import text

from contentflow.extensions import db
from contentflow.queueing import redis_connection

log = logging.getLogger(__name__)


def check() -> dict[str, str]:
    """``{"database": "ok" | "down", "redis": "ok" | "down"}``. Never raises: any error means down."""
    checks = {"database": "ok", "redis": "ok"}
    try:
        db.session.execute(text("SELECT 1"))
    except Exception:  # any driver error means "down" here
        log.warning("health: database down", exc_info=True)
        checks["database"] = "down"
        db.session.rollback()
    try:
        redis_connection().ping()
    except Exception:
        log.warning("health: redis down", exc_info=True)
        checks["redis"] = "down"
    return checks
