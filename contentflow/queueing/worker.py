"""RQ workers that run each job inside the app context of the process that started them."""

from __future__ import annotations

from flask import Flask
from rq import SimpleWorker, Worker
from rq.job import Job
from rq.queue import Queue

from contentflow.queueing.connection import QUEUES, get_queue, redis_connection


class AppContextMixin:
    """Runs every job in ``app``'s context; a forked work horse opens its own database connections."""

    app: Flask

    def perform_job(self, job: Job, queue: Queue) -> bool:
        from contentflow.extensions import db

        with self.app.app_context():
            if getattr(self, "_is_horse", False):
                # The horse is a fork: never reuse a connection the parent's pool might hold.
                db.engine.dispose(close=False)
            try:
                return super().perform_job(job, queue)  # type: ignore[misc]
            finally:
                db.session.remove()


class AppWorker(AppContextMixin, Worker):
    """Forking worker: production."""


class AppSimpleWorker(AppContextMixin, SimpleWorker):
    """In-process worker: tests and ``--burst`` runs where forking brings nothing."""


def make_worker(app: Flask, queue_names: tuple[str, ...] = QUEUES, *, simple: bool = False) -> Worker:
    """A worker bound to ``app`` listening on ``queue_names`` (all queues by default)."""
    cls = AppSimpleWorker if simple else AppWorker
    worker = cls([get_queue(name, app) for name in queue_names], connection=redis_connection(app))
    worker.app = app
    return worker
