"""Schedules are data (``queueing.schedules.Schedule``); here they are reconciled with Redis.

At scheduler start the declared list (the app's ``JobCatalog``: core + enabled plugins) is compared with
what rq-scheduler holds, by deterministic job ids: what is missing is added, what changed or is no longer
declared is cancelled.
A restart therefore never duplicates a schedule, and a plugin switched off loses its schedules.

A due job is put on its queue and moved to its next time in one Redis transaction (``AtomicScheduler``),
so a scheduler killed at any moment neither loses a schedule nor leaves a slot due that it had queued
already (``tests/integration/test_scheduler.py`` kills one before each command it sends;
``test_scale_out.py``, under load).
"""

from __future__ import annotations

import logging
import os
import time
import warnings
from datetime import UTC, datetime

from flask import Flask
from rq.job import Job
from rq_scheduler import Scheduler
from rq_scheduler.utils import get_next_scheduled_time, to_unix

from contentflow.queueing.connection import redis_connection
from contentflow.queueing.schedules import SCHEDULE_ID_PREFIX, Schedule, job_catalog

log = logging.getLogger(__name__)

#: crontab (under rq-scheduler) warns that it will read naive times as UTC instead of local time. In
#: a process on UTC (``use_utc_clock``) both readings agree, so the warning says nothing there.
CRONTAB_CHANGE_WARNING = r"Version 0\.22\.0\+ of crontab"


def use_utc_clock() -> None:
    """Put this process on UTC: rq-scheduler computes cron times in local time; declarations are UTC."""
    os.environ["TZ"] = "UTC"
    time.tzset()
    warnings.filterwarnings("ignore", message=CRONTAB_CHANGE_WARNING, category=FutureWarning)


def declared_schedules(app: Flask) -> list[Schedule]:
    """Core schedules, then each enabled plugin's, in menu order (the app's job catalog)."""
    return list(job_catalog(app).schedules)


class AtomicScheduler(Scheduler):
    """rq-scheduler, moving a due job to its queue and to its next time in one MULTI/EXEC transaction.

    rq-scheduler sends three separate commands: queue the job, remove it from the schedule, add it back
    with its next time. A scheduler killed in between (SIGKILL; or SIGTERM, which rq-scheduler turns into
    SystemExit wherever the process is) either loses the schedule until the next start's reconcile, which
    runs an interval job again at once, or leaves the slot due although it was queued, so the next
    scheduler queues the same slot a second time. Same rules otherwise (``repeat`` counts included)."""

    def enqueue_job(self, job: Job) -> None:
        interval = job.meta.get("interval")
        repeat = job.meta.get("repeat")
        cron_string = job.meta.get("cron_string")
        if repeat:
            job.meta["repeat"] = int(repeat) - 1
        next_at: int | None = None
        if (interval or cron_string) and not (repeat is not None and job.meta["repeat"] == 0):
            if interval:
                next_at = to_unix(datetime.now(UTC)) + int(interval)
            else:
                local = job.meta.get("use_local_timezone")
                next_at = to_unix(get_next_scheduled_time(cron_string, use_local_timezone=local))
        with self.connection.pipeline() as pipeline:  # MULTI ... EXEC: all of it or nothing
            queue = self.get_queue_for_job(job)
            queue.enqueue_job(job, pipeline=pipeline, at_front=bool(job.enqueue_at_front))
            if next_at is None:
                pipeline.zrem(self.scheduled_jobs_key, job.id)
            else:
                pipeline.zadd(self.scheduled_jobs_key, {job.id: next_at})
            pipeline.execute()


def make_scheduler(app: Flask, interval: int = 5) -> Scheduler:
    """An rq-scheduler bound to ``app``'s Redis, checking every ``interval`` seconds for due jobs."""
    return AtomicScheduler(queue_name="periodic", connection=redis_connection(app), interval=interval)


def reconcile_schedules(app: Flask, scheduler: Scheduler) -> dict[str, list[str]]:
    """Make Redis hold exactly the declared schedules. Idempotent; returns what it added and cancelled."""
    wanted = {schedule.schedule_id: schedule for schedule in declared_schedules(app)}
    kept: set[str] = set()
    cancelled: list[str] = []
    for existing in scheduler.get_jobs():
        if not existing.id.startswith(SCHEDULE_ID_PREFIX):
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
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=CRONTAB_CHANGE_WARNING, category=FutureWarning)
            scheduler.cron(
                schedule.cron, repeat=None, result_ttl=25 * 3600, use_local_timezone=False, **common
            )
