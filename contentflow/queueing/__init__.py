"""Background jobs on RQ: which Redis, how jobs are declared and enqueued, schedules, workers.

This package knows nothing of plugins or of the core's own jobs: the app factory gives it a
``JobCatalog`` (``queueing.schedules``) that says which jobs and schedules exist.
"""

from contentflow.queueing.connection import QUEUES, get_queue, redis_connection
from contentflow.queueing.decorators import (
    PermanentJobError,
    enqueue,
    enqueue_after_commit,
    job,
)
from contentflow.queueing.schedules import JobCatalog, Schedule, ScheduleError, job_catalog

__all__ = [
    "QUEUES",
    "JobCatalog",
    "PermanentJobError",
    "Schedule",
    "ScheduleError",
    "enqueue",
    "enqueue_after_commit",
    "get_queue",
    "job",
    "job_catalog",
    "redis_connection",
]
