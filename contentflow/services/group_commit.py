"""Group commit: the statements of many concurrent requests committed in one transaction, each request
waiting for its own result.

A transaction's cost on PostgreSQL is mostly its COMMIT, which waits for the WAL to reach the disk
(``synchronous_commit`` stays on: an answered postback is durable). One process's writer thread takes
every statement queued by the request threads while it was busy, runs them in one transaction, commits,
and hands each request its row. Nothing waits on purpose: under light load a batch holds one statement
(sent alone, in autocommit), and batches grow with the load (up to ``MAX_BATCH``). ``bench/postback.py``
measures it against pgbench on the same statement.

How a batch is sent, cheapest first:

- **Set-based** (``many``): a statement queued with its set-based form goes, with the rest of its batch,
  as that one statement. It takes ``%(batch)s``, the batch's parameters as one JSON array of objects
  (one ``json.dumps`` in C: no per-value adaptation in Python), and returns one row per element, in
  order, shaped as the single statement's row. One statement is its own transaction in autocommit: one
  round trip, no BEGIN/COMMIT. Its rows must come out as the single statements run in the batch's order
  in one transaction would have made them (``services.postback_fast.WRITE_MANY`` says how).
- **Pipelined**: otherwise BEGIN, the statements (``executemany`` when they are all the same) and COMMIT
  leave in one pipeline, one round trip (each statement prepared once per connection).

Rules for what may be queued (``services.postback_fast`` follows them):

- A statement must be idempotent and guarded by constraints, never by a read in Python: when a batch
  fails (one statement's error aborts the whole transaction, and the set-based statement is one), it is
  rolled back and each statement is run again alone (in its single form) in its own transaction, so one
  bad statement costs the others nothing. When even that fails, the caller gets ``GroupCommitFailed``
  and takes its slow path.
- Because the connection may break while COMMIT is in flight, "failed" can mean "committed after all":
  the slow path must then find the rows and answer as for a replay. Exactly-once rests on the unique
  keys, as everywhere else.
- Statements run in ``sort_key`` order, so two batches touching the same keys take their locks in the
  same order instead of deadlocking. A deadlock PostgreSQL still detects is a failed batch (above).

``WRITERS`` threads and connections per process, made on first use (after gunicorn forks, never before).
"""

from __future__ import annotations

import json
import logging
import os
import queue
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import psycopg

log = logging.getLogger(__name__)

#: The most statements one transaction takes.
MAX_BATCH = 64
#: Writer threads (and connections) per process. A second one runs the next batch while the first waits
#: for its COMMIT to reach the disk (worth it on a slow disk); on the bench's box it cost ~10 % more CPU a
#: postback (smaller batches) for no more throughput.
WRITERS = 1
#: How long a request waits for its batch before taking its slow path (the batch may still commit).
WAIT_SECONDS = 30.0


class GroupCommitFailed(Exception):
    """The statement could not be committed in a batch or alone (or its COMMIT's outcome is unknown)."""


@dataclass(eq=False)
class _Item:
    sql: str
    params: Mapping[str, Any]
    sort_key: tuple
    #: The set-based form of ``sql`` (see the module's docstring), or None.
    many: str | None = None
    done: threading.Event = field(default_factory=threading.Event)
    row: tuple | None = None
    error: BaseException | None = None


class GroupCommit:
    """``writers`` threads, each with its own connection to ``conninfo`` (a libpq URL or DSN), taking
    batches from one queue."""

    def __init__(self, conninfo: str, max_batch: int = MAX_BATCH, writers: int = WRITERS) -> None:
        self.conninfo = conninfo
        self.max_batch = max_batch
        self.writers = writers
        self._lock = threading.Lock()
        self._pid: int | None = None
        self._queue: queue.SimpleQueue[_Item] = queue.SimpleQueue()
        self._local = threading.local()
        self._connections: list[psycopg.Connection] = []
        #: Connections inherited through a fork: kept referenced so that the child never closes (and so
        #: ends) the parent's sessions.
        self._inherited: list[psycopg.Connection] = []

    def execute(
        self, sql: str, params: Mapping[str, Any], sort_key: tuple = (), many: str | None = None
    ) -> tuple | None:
        """Run ``sql`` with ``params`` in the next batch; its first row (None: no row) once committed.
        ``many``, the set-based form of ``sql``, runs a batch of such statements as one (its ``params``
        must then be JSON values).

        Raises GroupCommitFailed (see the module's rules)."""
        self._ensure_threads()
        item = _Item(sql, params, sort_key, many)
        self._queue.put(item)
        if not item.done.wait(WAIT_SECONDS):
            raise GroupCommitFailed(f"no batch committed within {WAIT_SECONDS:.0f} s")
        if item.error is not None:
            raise GroupCommitFailed(str(item.error)) from item.error
        return item.row

    def _ensure_threads(self) -> None:
        if self._pid == os.getpid():
            return
        with self._lock:
            if self._pid == os.getpid():
                return
            self._inherited += self._connections
            self._connections, self._local = [], threading.local()
            self._queue = queue.SimpleQueue()
            for number in range(self.writers):
                name = f"group-commit-{number}"
                threading.Thread(target=self._run, args=(self._queue,), name=name, daemon=True).start()
            self._pid = os.getpid()

    def close(self) -> None:
        """Stop the writer threads once the statements queued so far are committed, and close the
        connections (a process that exits needs not call it)."""
        with self._lock:
            is_running = self._pid == os.getpid()
        if is_running:
            stops = [threading.Event() for _ in range(self.writers)]
            for stop in stops:
                self._queue.put(stop)  # type: ignore[arg-type]
            for stop in stops:
                stop.wait(WAIT_SECONDS)
        with self._lock:
            if is_running:
                self._pid = None
            for connection in self._connections:
                connection.close()
            self._connections = []

    def _run(self, pending: queue.SimpleQueue[_Item]) -> None:
        while True:
            batch = [pending.get()]
            while len(batch) < self.max_batch and isinstance(batch[-1], _Item):
                try:
                    batch.append(pending.get_nowait())
                except queue.Empty:
                    break
            if not isinstance(batch[-1], _Item):  # close(): commit what came before, then stop
                if batch[:-1]:
                    self.commit_batch(batch[:-1])
                batch[-1].set()
                return
            try:
                self.commit_batch(batch)
            except Exception as error:  # the writer must outlive any bug: its requests take their slow path
                log.exception("group commit: a batch could not be handled")
                for item in batch:
                    if not item.done.is_set():
                        item.error = error
                        item.done.set()

    def commit_batch(self, batch: list[_Item]) -> None:
        """Commit ``batch`` in one transaction, or each statement alone when that fails; then wake every
        waiting request. (The writer thread's loop; tests call it directly.)"""
        batch.sort(key=lambda item: item.sort_key)
        try:
            rows = self._run_in_one_transaction(batch)
        except Exception as error:
            self._reset_after(error)
            if len(batch) == 1:
                batch[0].error = error
                batch[0].done.set()
                return
            log.warning("group commit: a batch of %d failed (%s); committing each alone", len(batch), error)
            for item in batch:
                self.commit_batch([item])
            return
        for item, row in zip(batch, rows, strict=True):
            item.row = row
            item.done.set()

    def _run_in_one_transaction(self, batch: list[_Item]) -> list[tuple | None]:
        connection = self._connect()
        if len(batch) == 1:  # a statement alone is its own transaction (autocommit): no BEGIN, no pipeline
            cursor = connection.execute(batch[0].sql, batch[0].params, prepare=True)
            return [cursor.fetchone() if cursor.description else None]
        many = batch[0].many
        if many is not None and all(item.many == many for item in batch):  # the usual case
            batch_json = json.dumps([item.params for item in batch])
            rows = connection.execute(many, {"batch": batch_json}, prepare=True).fetchall()
            if len(rows) != len(batch):  # a bug: committed, but whose row is whose? Each alone answers.
                raise RuntimeError(f"the set-based form answered {len(rows)} rows for {len(batch)}")
            return rows
        # BEGIN, the statements and COMMIT leave in one pipeline: one round trip for the whole batch.
        if all(item.sql == batch[0].sql for item in batch):  # executemany is cheaper
            cursor = connection.cursor()
            with connection.pipeline(), connection.transaction():
                cursor.executemany(batch[0].sql, [item.params for item in batch], returning=True)
            rows = []
            for _ in batch:
                rows.append(cursor.fetchone() if cursor.description else None)
                cursor.nextset()
            return rows
        with connection.pipeline(), connection.transaction():
            cursors = [connection.execute(item.sql, item.params, prepare=True) for item in batch]
        return [cursor.fetchone() if cursor.description else None for cursor in cursors]

    def _connect(self) -> psycopg.Connection:
        """This thread's connection."""
        connection = getattr(self._local, "connection", None)
        if connection is None or connection.closed:
            # Every statement queued here is the hot path's: prepare it on first use.
            connection = psycopg.connect(self.conninfo, autocommit=True, prepare_threshold=0)
            connection.isolation_level = psycopg.IsolationLevel.READ_COMMITTED
            self._local.connection = connection
            with self._lock:
                self._connections.append(connection)
        return connection

    def _reset_after(self, error: Exception) -> None:
        """After a failure the transaction was rolled back; a broken connection is replaced next time."""
        connection = getattr(self._local, "connection", None)
        if connection is not None and (connection.broken or isinstance(error, psycopg.OperationalError)):
            connection.close()
            self._local.connection = None
