"""The Redis stream between the redirect and the database: its entries, and the redirect's writer.

An entry is one field, ``c``: a JSON array holding the format's version, the link's resolution and the
visit. The flush (``jobs/clicks.py``) also reads the previous format (fields ``target``, ``click``,
``reason``: entries a process of the previous release wrote just before a deploy).

``StreamWriter`` appends with ``XADD`` and waits for the reply: the 302 is sent only once Redis has the
click (Redis must run with ``appendonly yes``, see the README). It talks to Redis through one redis-py
``Connection`` per process with the command packed in advance: about a quarter of the CPU of a
``redis.Redis`` call (``bench/README.md``), with redis-py's handling of URLs, TLS, AUTH and replies.
Why the reply is waited for, rather than read later:

- An error reply (out of memory, a read-only replica) is known only from the reply.
- A process that dies with replies unread in its TCP socket makes the kernel reset the connection, and
  Redis then drops the commands it had not read yet (measured: a client killed with 100 replies unread
  and 100 more XADDs sent while Redis was busy: 101 of the 200 stored; over a unix socket, 200). A
  process that answered before reading the reply could lose clicks it had already redirected.
- Waiting costs one local round trip. With gunicorn's threads, the threads of a process append in
  groups (one write, the replies read in order), so under load one round trip carries many clicks.

No reply within ``TIMEOUT_SECONDS``, a broken connection or an error reply: the caller stores the click
elsewhere (the process's buffer). If Redis stored it after all, the flush's ``ON CONFLICT (id)`` keeps
one row: the click id is the same. After a failure, the writer does not try Redis again for
``RETRY_AFTER_SECONDS``, so an unreachable Redis (a connect timeout) costs one click per second and
process, not every click.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import redis

from contentflow.services import clicks
from contentflow.services.links import LinkTarget

FORMAT = 2
FIELD = b"c"
CONNECT_TIMEOUT_SECONDS = 0.25
TIMEOUT_SECONDS = 0.5
RETRY_AFTER_SECONDS = 1.0
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def encode_entry(target: LinkTarget, visit: clicks.Visit) -> bytes:
    """The entry's ``c`` field."""
    micros = (visit.created_at - EPOCH) // timedelta(microseconds=1)
    fields = [FORMAT, target.link_id, target.partner_id, target.asset_id, target.offer_id, target.cpc_cents]
    fields += [visit.id, micros, visit.ip_hash, visit.user_agent, visit.referrer, visit.is_bot, visit.reason]
    return json.dumps(fields).encode()


def row_of_entry(fields: dict[bytes, bytes]) -> dict:
    """The ``clicks`` row of a stream entry, billable unless HEAD or bot (``settle_repeats`` decides
    repeats). Raises KeyError, ValueError or TypeError when the entry is malformed."""
    if FIELD not in fields:
        return _row_of_previous_format(fields)
    version, link_id, partner_id, asset_id, offer_id, cpc_cents, *visit_fields = json.loads(fields[FIELD])
    if version != FORMAT:
        raise ValueError(f"unknown click entry format {version!r}")
    click_id, micros, ip_hash, user_agent, referrer, is_bot, reason = visit_fields
    target = LinkTarget(link_id, "", partner_id, asset_id, offer_id, cpc_cents, "")
    created_at = EPOCH + timedelta(microseconds=micros)
    visit = clicks.Visit(click_id, created_at, ip_hash, user_agent, referrer, is_bot, reason)
    return clicks.row_of(target, visit, reason)


def _row_of_previous_format(fields: dict[bytes, bytes]) -> dict:
    """Entries of the release before this one: the repeat was claimed per IP + user agent in Redis;
    the flush now decides it per IP, so a ``repeat`` counts as a billable candidate again."""
    link_id, _code, partner_id, asset_id, offer_id, cpc_cents, _url = json.loads(fields[b"target"])
    click_id, micros, ip_hash, _visitor_hash, user_agent, referrer, is_bot = json.loads(fields[b"click"])
    reason = fields[b"reason"].decode()
    reason = "" if reason == "repeat" else reason
    target = LinkTarget(link_id, "", partner_id, asset_id, offer_id, cpc_cents, "")
    created_at = EPOCH + timedelta(microseconds=micros)
    visit = clicks.Visit(click_id, created_at, ip_hash, user_agent, referrer, is_bot, reason)
    return clicks.row_of(target, visit, reason)


class StreamUnavailable(Exception):
    """The click was not appended (see ``StreamWriter.append``); ``error`` says why."""

    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error


class StreamWriter:
    """Appends click entries to the stream at ``url`` (``redis://``, ``rediss://`` or ``unix://``).

    One connection per process, made on first use (after gunicorn forks). Its threads append in groups:
    a thread that gets the connection sends every entry queued meanwhile in one write and reads their
    replies; the others find theirs done. Under load a round trip carries many clicks, and a waiting
    thread never has replies unread when it sends (see the module on why that matters). A connection
    inherited through a fork is left alone, never closed: it is the parent's."""

    def __init__(self, url: str, key: str = clicks.STREAM_KEY) -> None:
        self.pool = redis.ConnectionPool.from_url(
            url, socket_connect_timeout=CONNECT_TIMEOUT_SECONDS, socket_timeout=TIMEOUT_SECONDS
        )
        encoded_key = key.encode()
        self.prefix = b"*5\r\n$4\r\nXADD\r\n$%d\r\n%s\r\n$1\r\n*\r\n$1\r\n%s\r\n$" % (
            len(encoded_key),
            encoded_key,
            FIELD,
        )
        self.retry_at = 0.0
        self.last_error: Exception | None = None
        self._connection_lock = threading.Lock()
        self._queue_lock = threading.Lock()
        self._queue: list[_Append] = []
        self._connection: redis.Connection | None = None
        self._pid = 0

    def append(self, entry: bytes, now: float) -> None:
        """XADD ``entry`` and wait for Redis's reply; ``now`` is ``time.monotonic()``. Raises
        StreamUnavailable (nothing appended, or not known to be) when Redis fails or failed less than
        ``RETRY_AFTER_SECONDS`` ago."""
        if now < self.retry_at:
            raise StreamUnavailable(self.last_error or ConnectionError("redis failed recently"))
        item = _Append(b"%s%d\r\n%s\r\n" % (self.prefix, len(entry), entry))
        with self._queue_lock:
            self._queue.append(item)
        with self._connection_lock:
            if not item.is_done:
                with self._queue_lock:
                    group, self._queue = self._queue, []
                self._send(group, now)
        if item.error is not None:
            raise StreamUnavailable(item.error)

    def _send(self, group: list[_Append], now: float) -> None:
        """One write for the group's commands, then their replies, in order. A broken connection fails
        the entries whose reply was not read: they may or may not be in Redis (the caller stores them
        elsewhere; the click id keeps one row)."""
        replied = 0
        try:
            connection = self._connection_of_this_process()
            connection.send_packed_command([b"".join(item.command for item in group)], check_health=False)
            for item in group:
                try:
                    connection.read_response()
                except redis.ResponseError as error:  # the connection is fine; Redis refused this one
                    item.error = error
                    self.last_error, self.retry_at = error, now + RETRY_AFTER_SECONDS
                item.is_done = True
                replied += 1
        except (redis.RedisError, OSError) as error:
            self.close()
            self.last_error, self.retry_at = error, now + RETRY_AFTER_SECONDS
            for item in group[replied:]:
                item.error, item.is_done = error, True

    def close(self) -> None:
        """Close this process's connection (the next append connects again)."""
        connection, self._connection = self._connection, None
        if connection is not None and self._pid == os.getpid():
            connection.disconnect()

    def _connection_of_this_process(self) -> redis.Connection:
        if self._connection is None or self._pid != os.getpid():
            self._connection = self.pool.make_connection()
            self._pid = os.getpid()
        return self._connection


@dataclass(eq=False, slots=True)
class _Append:
    command: bytes
    is_done: bool = False
    error: Exception | None = None
