"""Declaring jobs (queue, retries) and enqueueing them, only once the database work is committed."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import redis
from flask import Flask, current_app
from rq import Retry
from rq.job import Job
from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction

from contentflow.queueing.connection import QUEUES, get_queue

log = logging.getLogger(__name__)

PENDING_KEY = "contentflow.pending_jobs"


class PermanentJobError(RuntimeError):
    """Raised by a job whose failure retrying cannot fix (a 4xx answer): the job fails without retry."""


def job(queue: str, *, retry: Retry | None = None, timeout: int = 600) -> Callable:
    """Mark a job function with its queue, retry policy and timeout (Redash's pattern). Plugin jobs use
    ``contentflow.plugin.plugin_job``, which adds the run-time flag check.

    Raises ValueError for a queue not in QUEUES.
    """
    if queue not in QUEUES:
        raise ValueError(f"unknown queue {queue!r}")

    def decorate(func: Callable) -> Callable:
        func.queue_name = queue  # type: ignore[attr-defined]
        func.retry = retry  # type: ignore[attr-defined]
        func.timeout = timeout  # type: ignore[attr-defined]
        func.plugin_name = None  # type: ignore[attr-defined]
        return func

    return decorate


JobRef = Callable | str


def resolve_job(func: JobRef, app: Flask | None = None) -> Callable:
    """A job function, or the name of one in the app's job catalog: a service can ask for a job run
    without importing the jobs layer above it. Raises LookupError for an unknown name."""
    if callable(func):
        return func
    from contentflow.queueing.schedules import job_catalog

    found = job_catalog(app).get(func)
    if found is None:
        raise LookupError(f"no job named {func!r} in the app's job catalog")
    return found


def enqueue(func: JobRef, *args: Any, description: str | None = None, **kwargs: Any) -> Job:
    """Put ``func(*args, **kwargs)`` on its declared queue now, on the current app's Redis. ``func`` is a
    job function or its name (``resolve_job``).

    ``description`` replaces RQ's default (which prints the arguments): pass one whenever an argument is
    secret, since workers log the description. Raises redis.RedisError when Redis is down.
    """
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    return enqueue_on(app, resolve_job(func, app), args, kwargs, description)


def enqueue_on(
    app: Flask, func: Callable, args: tuple, kwargs: dict[str, Any], description: str | None = None
) -> Job:
    """``enqueue`` on ``app``'s Redis, without needing (or pushing) an app context."""
    queue = get_queue(getattr(func, "queue_name", "default"), app)
    return queue.enqueue(
        func,
        args=args,
        kwargs=kwargs,
        retry=getattr(func, "retry", None),
        job_timeout=getattr(func, "timeout", 600),
        description=description or func.__name__,
        result_ttl=24 * 3600,
        failure_ttl=7 * 24 * 3600,
    )


@dataclass(frozen=True)
class PendingJob:
    """A job waiting for the commit of the transaction (or savepoint) it was asked for in."""

    app: Flask
    func: Callable
    args: tuple
    kwargs: dict[str, Any]
    description: str | None
    transaction: SessionTransaction
    #: A job that is only a nudge (the work waits in a table a periodic job also reads): when Redis
    #: fails, the failure is logged instead of raised from ``commit()``.
    is_best_effort: bool = False


def enqueue_after_commit(
    func: JobRef, *args: Any, description: str | None = None, best_effort: bool = False, **kwargs: Any
) -> None:
    """Enqueue once the current database transaction commits; dropped if it (or its savepoint) rolls back.
    ``func`` is a job function or its name (``resolve_job``).

    A worker must never pick up a job about rows it cannot see yet, nor about rows that never were. With
    ``best_effort``, a Redis failure at enqueue time is logged, not raised: use it only when a periodic job
    finds the same work in the database anyway (the mail outbox). Otherwise ``commit()`` raises
    redis.RedisError after the commit succeeded.
    """
    from contentflow.extensions import db

    session = db.session()
    # Begin now if nothing has: a rollback of "no transaction" fires no event, so the job would
    # otherwise outlive it and leave with the next commit.
    transaction = session.get_nested_transaction() or session.get_transaction() or session.begin()
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    session.info.setdefault(PENDING_KEY, []).append(
        PendingJob(app, resolve_job(func, app), args, kwargs, description, transaction, best_effort)
    )


@event.listens_for(Session, "after_commit")
def _enqueue_pending(session: Session) -> None:
    if session.in_nested_transaction():
        return  # a savepoint was released: its jobs wait for the outermost commit
    pending: list[PendingJob] = session.info.pop(PENDING_KEY, [])
    for item in pending:
        # No app context is pushed here: popping one would tear the session down mid-commit.
        try:
            enqueue_on(item.app, item.func, item.args, item.kwargs, item.description)
        except redis.RedisError as error:
            if not item.is_best_effort:
                raise
            log.warning(
                "job %s not enqueued (%s): its periodic job will find the work",
                item.func.__name__,
                type(error).__name__,
            )


@event.listens_for(Session, "after_soft_rollback")
def _drop_rolled_back(session: Session, previous_transaction: SessionTransaction) -> None:
    pending: list[PendingJob] | None = session.info.get(PENDING_KEY)
    if pending:
        session.info[PENDING_KEY] = [
            item for item in pending if not _is_within(item.transaction, previous_transaction)
        ]


@event.listens_for(Session, "after_transaction_end")
def _drop_unfinished(session: Session, transaction: SessionTransaction) -> None:
    # The outermost transaction ended without a commit (closed, or rolled back): nothing may leave.
    if transaction.parent is None:
        session.info.pop(PENDING_KEY, None)


def _is_within(transaction: SessionTransaction | None, ancestor: SessionTransaction) -> bool:
    while transaction is not None:
        if transaction is ancestor:
            return True
        transaction = transaction.parent
    return False
