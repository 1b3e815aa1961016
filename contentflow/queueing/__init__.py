"""Background jobs on RQ: which Redis, how jobs are declared and enqueued, schedules, CLI."""

from contentflow.queueing.connection import QUEUES, get_queue, redis_connection
from contentflow.queueing.decorators import (
    PermanentJobError,
    enqueue,
    enqueue_after_commit,
    job,
    plugin_job,
)

__all__ = [
    "QUEUES",
    "PermanentJobError",
    "enqueue",
    "enqueue_after_commit",
    "get_queue",
    "job",
    "plugin_job",
    "redis_connection",
]
