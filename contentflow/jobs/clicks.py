"""Click jobs: moving captured clicks from the Redis stream into the database.

The stream is read through a consumer group: each run is a consumer of its own, takes over first the
entries a dead run left pending (``XAUTOCLAIM`` once idle for ``CLAIM_IDLE_MS``), then reads new ones,
decides which are billable (``clicks.settle_repeats``: the redirect only records), inserts them with
``ON CONFLICT (id) DO NOTHING``, commits, and only then acknowledges and deletes them.
"""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta

import redis
from flask import current_app
from sqlalchemy.exc import IntegrityError

from contentflow.extensions import db
from contentflow.queueing import Schedule, job, redis_connection
from contentflow.services import click_stream, clicks

log = logging.getLogger(__name__)

GROUP = "contentflow:click-flush"
#: A pending entry idle this long belongs to a run that died: the next run takes it over.
CLAIM_IDLE_MS = 60_000
#: One run stops after this many batches, so a flood cannot hold the periodic queue; the next run goes on.
MAX_BATCHES_PER_RUN = 100

Entry = tuple[bytes, dict[bytes, bytes]]


@job("periodic", timeout=300)
def flush_clicks() -> str:
    """Insert the captured clicks, one commit per batch, then acknowledge them in the stream.

    Idempotent: a batch inserted but not acknowledged (a worker killed in between) is inserted again
    by a later run, and ``ON CONFLICT (id) DO NOTHING`` keeps one row per click. Raises
    redis.RedisError when Redis does not answer (the clicks wait in the stream).
    """
    batch_size = max(current_app.config["CLICK_FLUSH_BATCH_SIZE"], 1)
    consumer = f"flush-{uuid.uuid4().hex[:12]}"
    ensure_group()
    stored = dropped = 0
    for _ in range(MAX_BATCHES_PER_RUN):
        entries = read_entries(consumer, batch_size)
        if not entries:
            break
        rows = clicks.settle_repeats(rows_from_entries(entries))
        try:
            clicks.insert_clicks(rows)
            db.session.commit()
        except IntegrityError:
            db.session.rollback()  # which also released the settle lock: take it again, decide again
            dropped += clicks.insert_each(clicks.settle_repeats(rows))
            db.session.commit()
        acknowledge([entry_id for entry_id, _ in entries])
        stored += len(rows)
    redis_connection().xgroup_delconsumer(clicks.STREAM_KEY, GROUP, consumer)
    return f"flushed {stored - dropped} clicks" + (f" ({dropped} dropped)" if dropped else "")


def ensure_group() -> None:
    """Create the consumer group, reading from the stream's start, unless it exists. Idempotent."""
    try:
        redis_connection().xgroup_create(clicks.STREAM_KEY, GROUP, id="0", mkstream=True)
    except redis.ResponseError as error:
        if "BUSYGROUP" not in str(error):
            raise


def read_entries(consumer: str, count: int) -> list[Entry]:
    """Up to ``count`` entries for ``consumer``: first those a dead run left pending, then new ones."""
    connection = redis_connection()
    claimed = connection.xautoclaim(
        clicks.STREAM_KEY, GROUP, consumer, min_idle_time=CLAIM_IDLE_MS, start_id="0-0", count=count
    )[1]
    if claimed:
        return claimed
    reply = connection.xreadgroup(GROUP, consumer, {clicks.STREAM_KEY: ">"}, count=count)
    return reply[0][1] if reply else []


def rows_from_entries(entries: list[Entry]) -> list[dict]:
    """The ``clicks`` rows of stream entries; a malformed entry is logged and skipped (then acknowledged
    with the rest: retrying it could never succeed)."""
    rows = []
    for entry_id, fields in entries:
        try:
            rows.append(click_stream.row_of_entry(fields))
        except (KeyError, ValueError, TypeError):
            log.error("click stream entry %s is malformed and skipped", entry_id.decode())
    return rows


def acknowledge(entry_ids: list[bytes]) -> None:
    """Mark entries as stored and delete them. Raises redis.RedisError (they then stay pending, and a
    later run inserts them again, harmlessly)."""
    pipeline = redis_connection().pipeline(transaction=False)
    pipeline.xack(clicks.STREAM_KEY, GROUP, *entry_ids)
    pipeline.xdel(clicks.STREAM_KEY, *entry_ids)
    pipeline.execute()


JOBS = (flush_clicks,)
#: rq-scheduler checks every 5 s: clicks reach the database within about 5-10 s.
SCHEDULES = (Schedule(flush_clicks, every=timedelta(seconds=5)),)
