"""Clicks a web process holds while Redis does not answer, inserted into the database in batches.

Inserting each click in its request (one transaction per click, waiting for the disk) capped the outage
path at 13-16 % of bare Flask: each commit waits ~3 ms for the WAL to reach the disk on our box, and a
sync worker serves nothing meanwhile. Here the redirect appends the click's row to its process's buffer
and answers; a writer thread inserts whatever the buffer holds, as one batch, exactly as the flush does
a batch from the stream (``clicks.settle_repeats`` decides repeats under the settle lock, then
``clicks.insert_clicks``, one durable commit). Nothing waits on purpose: under light load a batch holds
one click; batches grow with the load while a commit is in flight.

What is promised, precisely:

- A click is committed within one batch's commit of its redirect (milliseconds), unless the database is
  down too: then it waits in the buffer and the writer tries again every ``RETRY_SECONDS``.
- A process asked to stop (SIGTERM, SIGINT, SIGQUIT, gunicorn's graceful shutdown, ``max_requests``
  recycling, its worker-timeout abort) commits its buffer before it exits (``atexit``, for up to
  ``STOP_SECONDS``).
- What only a process killed outright (SIGKILL, the out-of-memory killer, an interpreter crash) or a
  machine crash can lose: the clicks it had not committed yet, those of its last commit's duration
  (milliseconds) while the database answers. Redis down and such a kill at the same moment.
- The buffer holds at most ``MAX_ROWS`` clicks. When the database does not take them either, a
  redirect waits up to ``FULL_WAIT_SECONDS`` for room, then is refused (503): never redirected unrecorded.
- Every click is inserted once: ``ON CONFLICT (id) DO NOTHING`` keeps one row when a click whose XADD
  timed out (so it was buffered) reached the stream after all.

In tests (``app.testing``) there is no buffer: the request stores its click itself with ``store_batch``
(a batch of one, in its own transaction, so the rows stay in the test's); ``CLICK_BUFFER_BACKGROUND``
overrides that (integration tests).
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time

from flask import Flask
from sqlalchemy.exc import IntegrityError

from contentflow.extensions import db
from contentflow.services import clicks

log = logging.getLogger(__name__)

#: Most clicks one process holds; about 500 bytes each.
MAX_ROWS = 20_000
#: How long a redirect waits for room in a full buffer before it is refused.
FULL_WAIT_SECONDS = 1.0
#: After a failed batch, the writer waits this long before trying again.
RETRY_SECONDS = 0.5
#: How long a stopping process keeps trying to commit what it holds.
STOP_SECONDS = 10.0


class BufferFull(Exception):
    """No room for the click: the database has not taken the buffered ones for a while."""


class ClickBuffer:
    """One per app and process. ``add`` from request threads; ``drain`` from the writer thread (or at
    exit, or a test)."""

    def __init__(self, app: Flask, max_rows: int = MAX_ROWS) -> None:
        self.app = app
        self.max_rows = max_rows
        self.batch_size = max(app.config["CLICK_FLUSH_BATCH_SIZE"], 1)
        self._rows: list[dict] = []
        self._changed = threading.Condition()
        self._draining = threading.Lock()
        self._pid = 0
        self._stopping = False
        self._failed_at = -RETRY_SECONDS
        os.register_at_fork(after_in_child=self._forget_parent)

    def add(self, row: dict) -> None:
        """Buffer a click's row (billable unless head, bot; repeats are decided by the batch). Starts
        the writer thread on first use in this process. Raises BufferFull."""
        with self._changed:
            if len(self._rows) >= self.max_rows and not self._changed.wait_for(
                lambda: len(self._rows) < self.max_rows, timeout=FULL_WAIT_SECONDS
            ):
                raise BufferFull(f"{len(self._rows)} clicks wait for the database")
            self._rows.append(row)
            self._changed.notify_all()
        if self._pid != os.getpid():
            self._start_writer()

    def pending_count(self) -> int:
        return len(self._rows)

    def drain(self) -> int:
        """Insert and commit everything buffered now, in batches of ``CLICK_FLUSH_BATCH_SIZE``; returns
        how many were stored. A batch that fails stays buffered (and raises). Idempotent per click."""
        stored = 0
        with self._draining:
            while True:
                with self._changed:
                    batch = self._rows[: self.batch_size]
                if not batch:
                    return stored
                with self.app.app_context():
                    stored += len(batch) - store_batch(batch)
                with self._changed:
                    del self._rows[: len(batch)]
                    self._changed.notify_all()

    def stop(self, timeout: float = STOP_SECONDS) -> None:
        """Commit what is buffered (trying again until ``timeout``) and stop the writer. Called at exit."""
        self._stopping = True
        with self._changed:
            self._changed.notify_all()
        if self._rows:
            log.info("stopping: committing %d buffered click(s)", len(self._rows))
        deadline = time.monotonic() + timeout
        while self._rows and time.monotonic() < deadline:
            try:
                self.drain()
            except Exception:
                log.warning("buffered clicks not stored yet, trying again", exc_info=True)
                time.sleep(RETRY_SECONDS)  # a process on its way out: nothing else to do meanwhile
        if self._rows:
            log.error("%d buffered click(s) lost: the database did not answer", len(self._rows))

    def _start_writer(self) -> None:
        with self._changed:
            if self._pid == os.getpid():
                return
            self._pid = os.getpid()
        threading.Thread(target=self._write_forever, name="click-buffer", daemon=True).start()
        atexit.register(self.stop)

    def _write_forever(self) -> None:
        while True:
            with self._changed:
                self._changed.wait_for(lambda: self._rows or self._stopping)
                if self._stopping:
                    return
            try:
                self.drain()
            except Exception as error:
                self._log_failure(error)
                with self._changed:  # not a sleep: a stop wakes it at once
                    self._changed.wait_for(lambda: self._stopping, timeout=RETRY_SECONDS)

    def _log_failure(self, error: Exception) -> None:
        now = time.monotonic()
        if now - self._failed_at >= 10.0:
            log.error("%d buffered click(s) wait for the database: %s", len(self._rows), error)
            self._failed_at = now

    def _forget_parent(self) -> None:
        """In a forked child: the parent's rows and thread are the parent's."""
        self._rows = []
        self._changed = threading.Condition()
        self._draining = threading.Lock()
        self._pid = 0


def store_batch(rows: list[dict]) -> int:
    """Settle and insert ``rows`` in one transaction of the session, committed; how many were dropped
    (their partner, asset, link or offer is gone). Raises on any other failure, after rolling back.
    Idempotent per click."""
    try:
        clicks.insert_clicks(clicks.settle_repeats(rows))
        db.session.commit()
        return 0
    except IntegrityError:
        db.session.rollback()  # which also released the settle lock: decide again
        dropped = clicks.insert_each(clicks.settle_repeats(rows))
        db.session.commit()
        return dropped
    except Exception:
        db.session.rollback()
        raise
