"""Declaring jobs (queue, retries) and enqueueing them, only once the database work is committed."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

from flask import current_app
from rq import Retry
from rq.job import Job
from sqlalchemy import event
from sqlalchemy.orm import Session

from contentflow.queueing.connection import QUEUES, get_queue

log = logging.getLogger(__name__)

PENDING_KEY = "contentflow.pending_jobs"


def job(queue: str, *, retry: Retry | None = None, timeout: int = 600) -> Callable:
    """Mark a core job function with its queue, retry policy and timeout (Redash's pattern)."""
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
    """Put ``func(*args, **kwargs)`` on its declared queue now.

    ``description`` replaces RQ's default (which prints the arguments): pass one whenever an argument is
    secret, since workers log the description.
    """
    queue = get_queue(getattr(func, "queue_name", "default"))
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


def enqueue_after_commit(func: Callable, *args: Any, description: str | None = None, **kwargs: Any) -> None:
    """Enqueue once the current database transaction commits; dropped if it rolls back.

    A worker must never pick up a job about rows it cannot see yet, nor about rows that never were.
    """
    from contentflow.extensions import db

    session = db.session()
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    session.info.setdefault(PENDING_KEY, []).append((app, func, args, kwargs, description))


@event.listens_for(Session, "after_commit")
def _enqueue_pending(session: Session) -> None:
    pending = session.info.pop(PENDING_KEY, [])
    for app, func, args, kwargs, description in pending:
        with app.app_context():
            enqueue(func, *args, description=description, **kwargs)


@event.listens_for(Session, "after_rollback")
def _drop_pending(session: Session) -> None:
    session.info.pop(PENDING_KEY, None)
