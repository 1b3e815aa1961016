"""The health of the background machinery, read from Redis in one pipelined round trip (plus one per
worker): RQ queue lengths and failed jobs, the workers alive, each scheduled job's last run and next
due time, and the click stream's backlog.

A scheduled job's last run is the result RQ itself records when a run ends (``rq:results:<job id>``,
under the schedule's fixed id): written by the worker for a success, a failure or a timeout, and by the
parent worker when the work horse was killed, so no path is missed and no core code is involved. RQ
keeps it only for the job's ``result_ttl`` (a day for cron schedules), so the refresh job copies the
latest one into ``monitoring_job_runs``, and the dashboard shows the newer of the two.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import redis
from rq import Worker
from rq.registry import FailedJobRegistry
from rq.results import Result
from rq_scheduler import Scheduler
from sqlalchemy import select

from contentflow.extensions import db
from contentflow.jobs.clicks import GROUP as CLICK_GROUP
from contentflow.queueing import QUEUES, Schedule, get_queue, job_catalog, redis_connection
from contentflow.services.clicks import STREAM_KEY as CLICK_STREAM
from plugins.monitoring.models import JobRun, upsert

#: A schedule whose next run is this far in the past is not being enqueued: the scheduler is down.
SCHEDULER_GRACE = timedelta(minutes=2)
#: Clicks are flushed every 5 seconds: one waiting this long means the flush is not keeping up.
FLUSH_LAG_LIMIT = timedelta(minutes=1)
OUTCOMES = {
    Result.Type.SUCCESSFUL: "succeeded",
    Result.Type.FAILED: "failed",
    Result.Type.STOPPED: "stopped",
    Result.Type.RETRIED: "retrying",
    Result.Type.MAX_RETRIES_EXCEEDED: "failed",
}


@dataclass(frozen=True)
class Run:
    """How a run of a scheduled job ended."""

    outcome: str
    ended_at: datetime
    detail: str
    result_id: str


@dataclass(frozen=True)
class ScheduleHealth:
    """A scheduled job: its last run, when it is due next, and ``status``: ok, failed, late (not run
    when due), never (no run recorded yet) or unscheduled (not in Redis: no scheduler has started)."""

    job_name: str
    when: str
    queue: str
    last_run: Run | None
    next_at: datetime | None
    status: str


@dataclass(frozen=True)
class QueueHealth:
    """An RQ queue: jobs waiting, and failed jobs kept in its registry."""

    name: str
    waiting_count: int
    failed_count: int


@dataclass(frozen=True)
class WorkerHealth:
    """A worker alive (RQ drops a worker whose heartbeat stopped)."""

    name: str
    state: str
    queues: tuple[str, ...]
    last_heartbeat_at: datetime | None


@dataclass(frozen=True)
class StreamHealth:
    """Clicks captured but not yet in the database: ``length`` waiting in the stream, ``pending_count``
    of them read by a flush that has not acknowledged them, and how old the oldest one is."""

    length: int
    pending_count: int
    oldest_age: timedelta | None


@dataclass(frozen=True)
class Health:
    """Everything about the machinery; with Redis down only the stored runs are known."""

    is_redis_up: bool
    queues: tuple[QueueHealth, ...]
    workers: tuple[WorkerHealth, ...]
    schedules: tuple[ScheduleHealth, ...]
    stream: StreamHealth | None

    @property
    def failed_count(self) -> int:
        """Failed jobs across every queue."""
        return sum(queue.failed_count for queue in self.queues)

    @property
    def has_trouble(self) -> bool:
        """Whether an admin should look: Redis down, no worker, a schedule late or failed, clicks waiting
        longer than ``FLUSH_LAG_LIMIT``."""
        lag = self.stream.oldest_age if self.stream is not None else None
        return (
            not self.is_redis_up
            or not self.workers
            or any(schedule.status in ("failed", "late", "unscheduled") for schedule in self.schedules)
            or (lag is not None and lag > FLUSH_LAG_LIMIT)
        )


def read_health(*, now: datetime) -> Health:
    """The machinery's state at ``now``. Read-only; never raises for Redis being down."""
    schedules = job_catalog().schedules
    stored = stored_runs()
    connection = redis_connection()
    try:
        replies = _pipelined_reads(connection, schedules, now)
        workers = Worker.all(connection=connection)
    except redis.RedisError:
        unknown = tuple(_schedule_health(s, stored.get(s.schedule_id), None, now) for s in schedules)
        return Health(False, (), (), unknown, None)
    queues = tuple(
        QueueHealth(name, int(replies.pop(0)), int(replies.pop(0)) + int(replies.pop(0))) for name in QUEUES
    )
    schedule_health = []
    for schedule in schedules:
        next_score, latest = replies.pop(0), replies.pop(0)
        last = _newer(stored.get(schedule.schedule_id), _run_of(schedule.schedule_id, latest, connection))
        next_at = datetime.fromtimestamp(float(next_score), UTC) if next_score is not None else None
        schedule_health.append(_schedule_health(schedule, last, next_at, now))
    stream = _stream_health(replies, now)
    return Health(
        True,
        queues,
        tuple(
            WorkerHealth(w.name, w.get_state(), tuple(w.queue_names()), w.last_heartbeat)
            for w in sorted(workers, key=lambda w: w.name)
        ),
        tuple(schedule_health),
        stream,
    )


def _pipelined_reads(connection: redis.Redis, schedules: tuple[Schedule, ...], now: datetime) -> list:
    pipeline = connection.pipeline(transaction=False)
    for name in QUEUES:
        pipeline.llen(get_queue(name).key)
        failed = FailedJobRegistry(name, connection=connection).key
        # Scores are expiry times (-1: never expires); expired entries wait for RQ's cleanup.
        pipeline.zcount(failed, now.timestamp(), "+inf")
        pipeline.zcount(failed, "-inf", "(0")
    for schedule in schedules:
        pipeline.zscore(Scheduler.scheduled_jobs_key, schedule.schedule_id)
        pipeline.xrevrange(Result.get_key(schedule.schedule_id), count=1)
    pipeline.xlen(CLICK_STREAM)
    pipeline.xrange(CLICK_STREAM, count=1)
    pipeline.xpending(CLICK_STREAM, CLICK_GROUP)
    replies = pipeline.execute(raise_on_error=False)
    failure = next((r for r in replies if isinstance(r, redis.ConnectionError | redis.TimeoutError)), None)
    if failure is not None:
        raise failure
    return replies


def _stream_health(replies: list, now: datetime) -> StreamHealth:
    length, first, pending = replies
    oldest_age = None
    if first and not isinstance(first, Exception):
        entry_id = first[0][0].decode() if isinstance(first[0][0], bytes) else str(first[0][0])
        captured_at = datetime.fromtimestamp(int(entry_id.split("-")[0]) / 1000, UTC)
        oldest_age = max(timedelta(0), now - captured_at)
    # No consumer group yet (no flush ever ran) is an error reply: nothing is pending then.
    pending_count = int(pending["pending"]) if isinstance(pending, dict) else 0
    return StreamHealth(int(length) if not isinstance(length, Exception) else 0, pending_count, oldest_age)


def _run_of(schedule_id: str, reply, connection: redis.Redis) -> Run | None:
    """The run described by RQ's latest result entry (an XREVRANGE reply), or None."""
    if not reply or isinstance(reply, Exception):
        return None
    result_id, payload = reply[0]
    result_id = result_id.decode() if isinstance(result_id, bytes) else str(result_id)
    try:
        result = Result.restore(schedule_id, result_id, payload, connection=connection)
    except Exception:  # a value the serializer cannot read back: the run is still known
        return Run("unknown", _result_time(result_id), "", result_id)
    if result.type == Result.Type.SUCCESSFUL:
        detail = str(result.return_value or "")
    else:
        lines = (result.exc_string or "").strip().splitlines()
        detail = lines[-1] if lines else ""
    ended_at = result.execution_ended_at or result.created_at
    return Run(OUTCOMES.get(result.type, "unknown"), ended_at.astimezone(UTC), detail[:500], result_id)


def _result_time(result_id: str) -> datetime:
    return datetime.fromtimestamp(int(result_id.split("-")[0]) / 1000, UTC)


def _newer(first: Run | None, second: Run | None) -> Run | None:
    if first is None or second is None:
        return first or second
    return second if second.ended_at >= first.ended_at else first


def _schedule_health(schedule: Schedule, last: Run | None, next_at: datetime | None, now: datetime):
    if next_at is not None and next_at < now - SCHEDULER_GRACE:
        status = "late"
    elif last is not None and last.outcome == "failed":
        status = "failed"
    elif last is not None and schedule.every and last.ended_at < now - 3 * schedule.every - SCHEDULER_GRACE:
        status = "late"
    elif next_at is None and last is None:
        status = "unscheduled"
    elif last is None:
        status = "never"
    else:
        status = "ok"
    return ScheduleHealth(schedule.job_name, schedule.when, schedule.queue, last, next_at, status)


def stored_runs() -> dict[str, Run]:
    """The last runs the refresh job copied from RQ, by schedule id."""
    table = JobRun.__table__
    return {
        row.schedule_id: Run(row.outcome, row.ended_at, row.detail, row.result_id)
        for row in db.session.execute(select(table))
    }


def record_runs() -> int:
    """Copy the latest run RQ recorded for each scheduled job into ``monitoring_job_runs``, unless it is
    already there. Flushes, never commits. Idempotent. Raises redis.RedisError when Redis is down."""
    connection = redis_connection()
    schedules = job_catalog().schedules
    pipeline = connection.pipeline(transaction=False)
    for schedule in schedules:
        pipeline.xrevrange(Result.get_key(schedule.schedule_id), count=1)
    stored = stored_runs()
    recorded = 0
    for schedule, reply in zip(schedules, pipeline.execute(), strict=True):
        run = _run_of(schedule.schedule_id, reply, connection)
        known = stored.get(schedule.schedule_id)
        if run is None or (
            known is not None and (known.result_id == run.result_id or known.ended_at > run.ended_at)
        ):
            continue  # nothing recorded, or already kept (this result, or a later one)
        _save_run(schedule, run)
        recorded += 1
    return recorded


def _save_run(schedule: Schedule, run: Run) -> None:
    values = {
        "schedule_id": schedule.schedule_id,
        "job_name": schedule.job_name,
        "outcome": run.outcome,
        "ended_at": run.ended_at,
        "detail": run.detail,
        "result_id": run.result_id,
    }
    statement = upsert(JobRun.__table__).values(values)
    db.session.execute(
        statement.on_conflict_do_update(
            index_elements=["schedule_id"],
            set_={key: statement.excluded[key] for key in values if key != "schedule_id"},
        )
    )
