"""The support plugin's job: ``close_idle_tickets``, every hour on the ``periodic`` queue."""

from __future__ import annotations

from datetime import datetime

from contentflow.extensions import db
from contentflow.models.base import utcnow
from contentflow.plugin import plugin_job
from plugins.support.services import tickets


@plugin_job("support", "periodic")
def close_idle_tickets(now: str | None = None) -> str:
    """Close the tickets idle ``TICKET_AUTO_CLOSE_DAYS`` in ``bot_answered`` or ``awaiting_user``, in one
    commit. ``now`` (ISO 8601) is for tests and replays. Idempotent: a second run closes nothing more."""
    moment = datetime.fromisoformat(now) if now else utcnow()
    closed = tickets.close_idle(now=moment)
    db.session.commit()
    return f"close_idle_tickets: {closed} closed"
