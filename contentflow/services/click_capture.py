"""Click capture on the redirect's path: resolve the link, record the visit, as cheaply as it can be done
without losing a click.

A redirect reads the link from the process's ``LinkCache`` (``LINK_CACHE_SECONDS``; a miss costs one
indexed query) and appends the click to the Redis stream with one ``XADD`` whose reply it waits for
(``click_stream``): the 302 leaves only once Redis has the click. It decides nothing: the flush
(``jobs/clicks.py``) decides repeats for a whole batch and writes it. When Redis does not answer, the
click goes to the process's ``ClickBuffer``, which a writer thread inserts into the database in
batches, with the same decision (``click_buffer`` says precisely what is promised then).

Both paths keep the click id the redirect carries in its subid, so a click recorded twice (an XADD
whose reply timed out, then buffered) is stored once.
"""

from __future__ import annotations

import logging
import time

from flask import Flask, current_app

from contentflow.services import click_buffer, clicks, links
from contentflow.services.click_stream import StreamUnavailable, StreamWriter, encode_entry
from contentflow.services.links import LinkTarget

log = logging.getLogger(__name__)

EXTENSION_KEY = "contentflow.click_capture"


class CaptureFailed(Exception):
    """Neither Redis nor the process's buffer took the click: nothing was recorded, and the visit must
    not be redirected (503)."""


class ClickCapture:
    """What the redirect needs, per app and process: settings read once, the link cache, the stream
    writer and the outage buffer."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        #: Seconds, monotonic; tests put a clock of their own.
        self.clock = time.monotonic
        self.ip_hash_key = app.config["IP_HASH_KEY"].encode()
        self.links = links.LinkCache()
        self.stream = StreamWriter(app.config["RESOLVED_REDIS_URL"])
        #: None in tests: each click is stored in its request's transaction (``click_buffer``).
        self.buffer: click_buffer.ClickBuffer | None = None
        if app.config.get("CLICK_BUFFER_BACKGROUND", not app.testing):
            self.buffer = click_buffer.ClickBuffer(app)

    def new_visit(self, *, ip: str, user_agent: str, referrer: str, is_head: bool) -> clicks.Visit:
        return clicks.new_visit(
            ip=ip, user_agent=user_agent, referrer=referrer, is_head=is_head, key=self.ip_hash_key
        )

    def follow_cached(self, code: str, visit: clicks.Visit) -> str | None:
        """The fast path, outside any app context: the offer URL when ``code`` is cached and the click
        was recorded (stream, else the buffer when its writer runs in the background); None otherwise,
        nothing recorded then: the caller takes ``capture_by_code``."""
        target = self.links.get(code, self.clock())
        if target is None:
            return None
        try:
            self.stream.append(encode_entry(target, visit), self.clock())
        except StreamUnavailable as unavailable:
            if self.buffer is None:
                return None
            _log_fallback(visit, unavailable.error)
            try:
                self.buffer.add(clicks.row_of(target, visit, visit.reason))
            except click_buffer.BufferFull:
                return None
        return links.destination_url(target, visit.id)

    def target_of(self, code: str) -> LinkTarget | None:
        """``code``'s target from the cache, else from the database (then cached). In an app context."""
        now = self.clock()
        target = self.links.get(code, now)
        if target is None:
            target = links.resolve_code(code)
            if target is not None:
                self.links.put(target, now)
        return target

    def record(self, target: LinkTarget, visit: clicks.Visit) -> None:
        """Record ``visit`` of ``target``: in the stream, else in the buffer (in tests, stored at once in
        this app context's transaction). Idempotent on the click id. Raises CaptureFailed (nothing
        recorded)."""
        try:
            self.stream.append(encode_entry(target, visit), self.clock())
            return
        except StreamUnavailable as unavailable:
            _log_fallback(visit, unavailable.error)
        row = clicks.row_of(target, visit, visit.reason)
        try:
            if self.buffer is not None:
                self.buffer.add(row)
            else:
                click_buffer.store_batch([row])
        except click_buffer.BufferFull as full:
            raise CaptureFailed(str(full)) from full
        except Exception as error:
            raise CaptureFailed(f"database unavailable: {error}") from error


def init_app(app: Flask) -> None:
    """Bind the app's capture. Nothing connects, and no thread starts, before a click needs it."""
    app.extensions[EXTENSION_KEY] = ClickCapture(app)


def capture_of(app: Flask | None = None) -> ClickCapture:
    return (app or current_app).extensions[EXTENSION_KEY]


def capture_by_code(code: str, visit: clicks.Visit) -> LinkTarget | None:
    """Resolve ``/l/<code>`` and record the visit; None when the link answers 404 or 410 (nothing
    recorded). In an app context. Raises CaptureFailed."""
    capture = capture_of()
    target = capture.target_of(code)
    if target is not None:
        capture.record(target, visit)
    return target


class _FallbackLog:
    """One warning per ``EVERY_SECONDS`` and process while Redis is down, not one per click: an outage
    under load would otherwise flood the logs from the hot path."""

    EVERY_SECONDS = 10.0
    last_at = -EVERY_SECONDS
    count = 0


def _log_fallback(visit: clicks.Visit, error: Exception) -> None:
    _FallbackLog.count += 1
    now = time.monotonic()
    if now - _FallbackLog.last_at >= _FallbackLog.EVERY_SECONDS:
        log.warning(
            "redis unavailable (%s): %d click(s) sent to the database instead, the last %s",
            type(error).__name__,
            _FallbackLog.count,
            visit.id,
        )
        _FallbackLog.last_at, _FallbackLog.count = now, 0
