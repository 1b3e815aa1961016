"""Declaring jobs (queue, retries) and enqueueing them, only once the database work is committed."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

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
    """Mark a core job function with its queue, retry policy and timeout (Redash's pattern).

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


def plugin_job(plugin_name: str, queue: str, *, retry: Retry | None = None, timeout: int = 600) -> Callable:
    """Like ``job``, and the job re-checks its plugin's flag when it runs: off, it logs and does nothing."""

    def decorate(func: Callable) -> Callable:
        @functools.wraps(func)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            from contentflow.plugin import plugin_registry

            if not plugin_registry().is_enabled(plugin_name):
                log.info("job %s skipped: plugin %s is off", func.__name__, plugin_name)
                return None
            return func(*args, **kwargs)

        job(queue, retry=retry, timeout=timeout)(guarded)
        guarded.plugin_name = plugin_name  # type: ignore[attr-defined]
        return guarded

    return decorate


def enqueue(func: Callable, *args: Any, description: str | None = None, **kwargs: Any) -> Job:
    """Put ``func(*args, **kwargs)`` on its declared queue now, on the current app's Redis.

    ``description`` replaces RQ's default (which prints the arguments): pass one whenever an argument is
    secret, since workers log the description. Raises redis.RedisError when Redis is down.
    """
    return enqueue_on(current_app._get_current_object(), func, args, kwargs, description)  # type: ignore[attr-defined]


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


def enqueue_after_commit(func: Callable, *args: Any, description: str | None = None, **kwargs: Any) -> None:
    """Enqueue once the current database transaction commits; dropped if it (or its savepoint) rolls back.

    A worker must never pick up a job about rows it cannot see yet, nor about rows that never were.
    """
    from contentflow.extensions import db

    session = db.session()
    # Begin now if nothing has: a rollback of "no transaction" fires no event, so the job would
    # otherwise outlive it and leave with the next commit.
    transaction = session.get_nested_transaction() or session.get_transaction() or session.begin()
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    session.info.setdefault(PENDING_KEY, []).append(
        PendingJob(app, func, args, kwargs, description, transaction)
    )


@event.listens_for(Session, "after_commit")
def _enqueue_pending(session: Session) -> None:
    if session.in_nested_transaction():
        return  # a savepoint was released: its jobs wait for the outermost commit
    pending: list[PendingJob] = session.info.pop(PENDING_KEY, [])
    for item in pending:
        # No app context is pushed here: popping one would tear the session down mid-commit.
        enqueue_on(item.app, item.func, item.args, item.kwargs, item.description)


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
