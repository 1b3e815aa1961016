"""Schedules are data (``Schedule`` on the plugin contract); here they are reconciled with Redis.

At scheduler start the declared list (core + enabled plugins) is compared with what rq-scheduler holds,
by deterministic job ids: what is missing is added, what changed or is no longer declared is cancelled.
A restart therefore never duplicates a schedule, and a plugin switched off loses its schedules.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from flask import Flask
from rq_scheduler import Scheduler

from contentflow.plugin import Schedule, plugin_registry
from contentflow.queueing.connection import redis_connection

log = logging.getLogger(__name__)

SCHEDULE_PREFIX = "contentflow:schedule:"


def declared_schedules(app: Flask) -> list[Schedule]:
    """Core schedules, then each enabled plugin's, in menu order."""
    from contentflow.jobs import CORE_SCHEDULES

    schedules = list(CORE_SCHEDULES)
    for plugin in plugin_registry(app).enabled.values():
        schedules.extend(plugin.schedules)
    return schedules


def make_scheduler(app: Flask, interval: int = 5) -> Scheduler:
    return Scheduler(queue_name="periodic", connection=redis_connection(app), interval=interval)


def reconcile_schedules(app: Flask, scheduler: Scheduler) -> dict[str, list[str]]:
    """Make Redis hold exactly the declared schedules. Idempotent; returns what it added and cancelled."""
    wanted = {schedule.schedule_id: schedule for schedule in declared_schedules(app)}
    kept: set[str] = set()
    cancelled: list[str] = []
    for existing in scheduler.get_jobs():
        if not existing.id.startswith(SCHEDULE_PREFIX):
            continue
        schedule = wanted.get(existing.id)
        if schedule is not None and existing.meta.get("schedule_spec") == schedule.spec:
            kept.add(existing.id)
            continue
        scheduler.cancel(existing)
        existing.delete()
        cancelled.append(existing.id)
    added: list[str] = []
    for schedule_id, schedule in wanted.items():
        if schedule_id in kept:
            continue
        add_schedule(scheduler, schedule)
        added.append(schedule_id)
    if added or cancelled:
        log.info("schedules reconciled", extra={"added": added, "cancelled": cancelled})
    return {"added": added, "cancelled": cancelled, "kept": sorted(kept)}


def add_schedule(scheduler: Scheduler, schedule: Schedule) -> None:
    """Register one schedule under its fixed id. ``result_ttl`` outlives the interval."""
    common = {
        "func": schedule.job_path,
        "id": schedule.schedule_id,
        "queue_name": schedule.queue,
        "meta": {"schedule_spec": schedule.spec},
        "description": schedule.job_name,
        "timeout": getattr(schedule.job, "timeout", 600),
    }
    if schedule.every is not None:
        seconds = int(schedule.every.total_seconds())
        scheduler.schedule(
            scheduled_time=datetime.now(UTC),
            interval=seconds,
            repeat=None,
            result_ttl=seconds * 2 + 60,
            **common,
        )
    else:
        scheduler.cron(schedule.cron, repeat=None, result_ttl=25 * 3600, use_local_timezone=False, **common)
