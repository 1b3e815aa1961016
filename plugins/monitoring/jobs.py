"""The monitoring plugin's job: ``refresh_monitoring``, every minute on the ``periodic`` queue."""

from __future__ import annotations

import logging
import uuid
from datetime import datetime

import redis

from contentflow.extensions import db
from contentflow.models.base import utcnow
from contentflow.plugin import plugin_job
from plugins.monitoring.services import machinery, rollups, snapshot

log = logging.getLogger(__name__)


@plugin_job("monitoring", "periodic")
def refresh_monitoring(now: str | None = None) -> str:
    """Roll up the days whose clicks or conversions changed (one commit per day), drop what fell out of
    the window, sum the ranges, snapshot the network's money, and keep the scheduled jobs' last runs.
    ``now`` (ISO 8601) is for tests and replays. Idempotent: a second run recomputes nothing, or the same
    figures."""
    moment = datetime.fromisoformat(now) if now else utcnow()
    run_id = uuid.uuid4().hex[:16]
    days = rollups.days_to_refresh(now=moment)
    for day in days:
        rollups.refresh_day(day, run_id=run_id)
        db.session.commit()  # right away: the marks deleted are locked until then
    pruned = rollups.prune(now=moment)
    rollups.refresh_ranges(now=moment)
    db.session.commit()
    is_installed = rollups.is_capture_installed()
    if not is_installed:
        log.error("monitoring: a change-capture trigger is missing; run `flask monitoring refresh --rebuild`")
    snapshot.take_snapshot(now=moment, is_capture_installed=is_installed)
    db.session.commit()
    try:
        recorded = machinery.record_runs()
        db.session.commit()
    except redis.RedisError as error:  # the runs are read again next time; the figures are in
        db.session.rollback()
        log.warning("monitoring: job runs not recorded (%s)", type(error).__name__)
        recorded = 0
    shown = f"{len(days)} day(s) ({days[-1].isoformat()} to {days[0].isoformat()})" if days else "no day"
    return f"refresh_monitoring: rolled up {shown}; {pruned} old rows pruned; {recorded} job runs recorded"
