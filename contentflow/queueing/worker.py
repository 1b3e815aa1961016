"""RQ workers that run each job inside the app context of the process that started them."""

from __future__ import annotations

import logging
from types import TracebackType

from flask import Flask
from rq import SimpleWorker, Worker
from rq.job import Job
from rq.queue import Queue

from contentflow.queueing.connection import QUEUES, get_queue, redis_connection
from contentflow.queueing.decorators import PermanentJobError

#: Attributes RQ adds to its "exception raised" log record: a job's arguments may hold a secret.
SECRET_LOG_FIELDS = ("arguments", "kwargs")


class AppContextMixin:
    """Runs every job in ``app``'s context; a forked work horse opens its own database connections."""

    app: Flask

    def perform_job(self, job: Job, queue: Queue) -> bool:
        from contentflow.extensions import db

        with self.app.app_context():
            if getattr(self, "_is_horse", False):
                # The horse is a fork: never reuse a connection the parent's pool might hold, and
                # never close it either (the parent still owns it). SQLAlchemy's documented recipe.
                for engine in db.engines.values():
                    engine.dispose(close=False)
            try:
                return super().perform_job(job, queue)  # type: ignore[misc]
            finally:
                db.session.remove()


class AppWorker(AppContextMixin, Worker):
    """Forking worker: production."""


class AppSimpleWorker(AppContextMixin, SimpleWorker):
    """In-process worker: tests and ``--burst`` runs where forking brings nothing."""


def stop_retrying_permanent_failures(
    job: Job, exc_type: type[BaseException], exc_value: BaseException, traceback: TracebackType
) -> bool:
    """RQ exception handler: a PermanentJobError fails the job for good instead of using its Retry."""
    if isinstance(exc_value, PermanentJobError):
        job.retries_left = 0
    return True  # let RQ record the failure as usual


class HideJobArguments(logging.Filter):
    """Drops the job arguments RQ attaches to its error records (our JSON logs would print them)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name in SECRET_LOG_FIELDS:
            record.__dict__.pop(name, None)
        return True


def hide_job_arguments() -> None:
    """Install ``HideJobArguments`` on RQ's worker logger once per process. Idempotent."""
    rq_log = logging.getLogger("rq.worker")
    if not any(isinstance(existing, HideJobArguments) for existing in rq_log.filters):
        rq_log.addFilter(HideJobArguments())


def make_worker(app: Flask, queue_names: tuple[str, ...] = QUEUES, *, simple: bool = False) -> Worker:
    """A worker bound to ``app`` listening on ``queue_names`` (all queues by default).

    Start it with ``work(with_scheduler=True)`` (as ``flask rq worker`` does): RQ's scheduler is what
    puts retried jobs (``Retry`` with intervals) back on their queue when they fall due.
    """
    hide_job_arguments()
    cls = AppSimpleWorker if simple else AppWorker
    worker = cls(
        [get_queue(name, app) for name in queue_names],
        connection=redis_connection(app),
        exception_handlers=[stop_retrying_permanent_failures],
    )
    worker.app = app
    return worker
