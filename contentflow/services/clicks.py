"""Click capture: classify a visit, record it off the redirect's critical path, move it to the database.

A redirect normally costs one Redis round trip and no database query: a Lua script reads the link's
resolution cached in Redis (``LINK_CACHE_SECONDS``, so a quarantine takes effect within seconds),
claims the visitor's repeat key (``SET NX EX``, atomically), and appends the click to a stream
(``XADD``). On a cache miss the link is resolved in the database and the script caches it. The
``flush_clicks`` job moves the stream into ``clicks`` (``jobs/clicks.py``).

When Redis does not answer, the link is resolved in the database, the repeat check asks the database,
and the click is inserted in the request (the caller commits): no click is lost. Clicks waiting in the
stream survive a Redis restart only when Redis persists them (``appendonly yes``), as the production
Redis must be configured.

Non-billable clicks store ``cpc_cents = None``: a click that earns nothing carries no price, so any sum
of ``cpc_cents`` is right even without an ``is_billable`` filter. Figures: ``bench/README.md``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache

import redis
from crawleruseragents import is_crawler
from flask import Flask, current_app
from sqlalchemy import func, select, text, tuple_

from contentflow.extensions import db
from contentflow.models import Click
from contentflow.models.base import insert_or_skip
from contentflow.security import SHORT_ID_ALPHABET, hash_ip
from contentflow.services import links
from contentflow.services.links import LinkTarget

log = logging.getLogger(__name__)

STREAM_KEY = "contentflow:clicks"
REPEAT_KEY_PREFIX = "contentflow:click-seen:"
#: Versioned: a release that changes ``encode_target`` bumps it, so no process reads the other's format.
LINK_CACHE_PREFIX = "contentflow:link:v1:"
#: How long a link's resolution (offer URL, CPC, whether it is served) may be served from Redis.
LINK_CACHE_SECONDS = 5
CLIENT_KEY = "contentflow.click_redis"
SCRIPT_KEY = "contentflow.click_capture"

#: KEYS: stream, repeat key, link cache key. ARGV: repeat window (s), reason so far ('' = billable
#: unless a repeat), cache seconds, the link's resolution ('' = read it from the cache), the click.
#: Returns the resolution used, or false on a cache miss (nothing recorded then).
CAPTURE_SCRIPT = """
local target = ARGV[4]
if target == '' then
  target = redis.call('GET', KEYS[3])
  if not target then return false end
else
  redis.call('SET', KEYS[3], target, 'EX', ARGV[3])
end
local reason = ARGV[2]
if reason == '' and tonumber(ARGV[1]) > 0 then
  if not redis.call('SET', KEYS[2], '1', 'NX', 'EX', ARGV[1]) then reason = 'repeat' end
end
redis.call('XADD', KEYS[1], '*', 'target', target, 'click', ARGV[5], 'reason', reason)
return target
"""


@dataclass(frozen=True, slots=True)
class Visit:
    """A click before its link is known: ``reason`` is ``head``, ``bot`` or '' (billable unless a
    repeat). The IP is kept only as keyed hashes."""

    id: str
    created_at: datetime
    ip_hash: str
    visitor_hash: str
    user_agent: str
    referrer: str
    is_bot: bool
    reason: str


@dataclass(frozen=True, slots=True)
class Capture:
    """A recorded click: where it goes, and whether it went into the database session (Redis did not
    answer), which the caller must then commit."""

    target: LinkTarget
    is_in_session: bool


def init_app(app: Flask) -> None:
    """The redirect's own Redis client: short timeouts, so an unreachable Redis costs a click little
    before it falls back to the database. Nothing connects before the first click."""
    client = redis.Redis.from_url(
        app.config["RESOLVED_REDIS_URL"], socket_connect_timeout=0.25, socket_timeout=0.5
    )
    app.extensions[CLIENT_KEY] = client
    app.extensions[SCRIPT_KEY] = client.register_script(CAPTURE_SCRIPT)


@lru_cache(maxsize=4096)
def is_bot_agent(user_agent: str) -> bool:
    """Known crawler or link-preview fetcher (crawler-user-agents), or no user agent at all (a script:
    every browser sends one). Cached: matching the whole list costs ~150 µs."""
    return not user_agent.strip() or is_crawler(user_agent)


def new_click_id() -> str:
    """14 characters of ``[a-z0-9]`` from 72 random bits (``security.new_short_id`` costs 10x more)."""
    number = int.from_bytes(secrets.token_bytes(9))
    characters = []
    for _ in range(14):
        number, digit = divmod(number, 36)
        characters.append(SHORT_ID_ALPHABET[digit])
    return "".join(characters)


def new_visit(*, ip: str, user_agent: str, referrer: str, is_head: bool) -> Visit:
    """A visit made now, with its click id."""
    is_bot = is_bot_agent(user_agent)
    user_agent = user_agent[:512]
    key = current_app.config["IP_HASH_KEY"]
    return Visit(
        id=new_click_id(),
        created_at=datetime.now(UTC),
        ip_hash=hash_ip(ip, key),
        visitor_hash=hash_ip(f"{ip}|{user_agent}", key),
        user_agent=user_agent,
        referrer=referrer[:1024],
        is_bot=is_bot,
        reason="bot" if is_bot else ("head" if is_head else ""),
    )


def capture_by_code(code: str, visit: Visit) -> Capture | None:
    """Resolve ``/l/<code>`` and record the visit; None when the link answers 404 (nothing recorded).

    One Redis round trip when the link's resolution is cached; else a database query and a second
    round trip. Redis unreachable: ``capture_in_database``. Idempotent on the click id."""
    try:
        cached = _run_script(code, visit, None)
    except redis.RedisError as error:
        _log_fallback(visit, error)
        target = links.resolve_code(code)
        return capture_in_database(target, visit) if target is not None else None
    if cached is not None:
        return Capture(cached, is_in_session=False)
    target = links.resolve_code(code)
    return capture_for_target(target, visit) if target is not None else None


def capture_for_target(target: LinkTarget, visit: Visit) -> Capture:
    """Record the visit of a link already resolved (and cache its resolution). Idempotent on the id."""
    try:
        _run_script(target.code, visit, target)
        return Capture(target, is_in_session=False)
    except redis.RedisError as error:
        _log_fallback(visit, error)
        return capture_in_database(target, visit)


def capture_in_database(target: LinkTarget, visit: Visit) -> Capture:
    """Redis is unreachable: check repeats in the database and insert the click into the session."""
    window_seconds = current_app.config["CLICK_REPEAT_WINDOW_MINUTES"] * 60
    reason = visit.reason
    if not reason and window_seconds and _is_repeat_in_database(target, visit, window_seconds):
        reason = "repeat"
    insert_clicks([row_of(target, visit, reason)])
    return Capture(target, is_in_session=True)


def _run_script(code: str, visit: Visit, target: LinkTarget | None) -> LinkTarget | None:
    result = current_app.extensions[SCRIPT_KEY](
        keys=[STREAM_KEY, f"{REPEAT_KEY_PREFIX}{code}:{visit.visitor_hash}", f"{LINK_CACHE_PREFIX}{code}"],
        args=[
            current_app.config["CLICK_REPEAT_WINDOW_MINUTES"] * 60,
            visit.reason,
            LINK_CACHE_SECONDS,
            "" if target is None else encode_target(target),
            encode_visit(visit),
        ],
    )
    return decode_target(result) if result else None


class _FallbackLog:
    """One warning per ``EVERY_SECONDS`` and process while Redis is down, not one per click: an outage
    under load would otherwise flood the logs from the hot path."""

    EVERY_SECONDS = 10.0
    last_at = -EVERY_SECONDS
    count = 0


def _log_fallback(visit: Visit, error: Exception) -> None:
    _FallbackLog.count += 1
    now = time.monotonic()
    if now - _FallbackLog.last_at >= _FallbackLog.EVERY_SECONDS:
        log.warning(
            "redis unavailable (%s): %d click(s) inserted directly, the last %s",
            type(error).__name__,
            _FallbackLog.count,
            visit.id,
        )
        _FallbackLog.last_at, _FallbackLog.count = now, 0


def _is_repeat_in_database(target: LinkTarget, visit: Visit, window_seconds: int) -> bool:
    """Whether the visitor has a billable click on the link within the window. On PostgreSQL it first
    takes a transaction lock on (link, visitor), held until the caller commits the click, so racing
    visits of one visitor (a double click) check one after the other and only the first is billable;
    SQLite serialises writers already (``BEGIN IMMEDIATE``)."""
    if db.session.get_bind().dialect.name == "postgresql":
        key = f"click-repeat:{target.link_id}:{visit.visitor_hash}".encode()
        lock_id = int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "big", signed=True)
        db.session.execute(select(func.pg_advisory_xact_lock(lock_id)))
    since = visit.created_at - timedelta(seconds=window_seconds)
    query = select(Click.id).where(
        Click.short_link_id == target.link_id,
        Click.visitor_hash == visit.visitor_hash,
        Click.created_at > since,
        Click.is_billable.is_(True),
    )
    return db.session.scalar(query.limit(1)) is not None


# --- how clicks are written: in the stream, in the database -----------------------------------------


def encode_target(target: LinkTarget) -> str:
    return json.dumps(
        [target.link_id, target.code, target.partner_id, target.asset_id, target.offer_id, target.cpc_cents]
        + [target.url_template]
    )


def decode_target(raw: bytes | str) -> LinkTarget:
    """Raises ValueError/TypeError when ``raw`` is not an encoded target."""
    return LinkTarget(*json.loads(raw))


def encode_visit(visit: Visit) -> str:
    micros = int(visit.created_at.timestamp() * 1_000_000)
    fields = [visit.id, micros, visit.ip_hash, visit.visitor_hash, visit.user_agent, visit.referrer]
    return json.dumps([*fields, visit.is_bot])


def decode_visit(raw: bytes | str, reason: str) -> Visit:
    """Raises ValueError/TypeError when ``raw`` is not an encoded visit."""
    click_id, micros, ip_hash, visitor_hash, user_agent, referrer, is_bot = json.loads(raw)
    created_at = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=micros)
    return Visit(click_id, created_at, ip_hash, visitor_hash, user_agent, referrer, is_bot, reason)


def row_of(target: LinkTarget, visit: Visit, reason: str) -> dict:
    """The ``clicks`` row of a visit whose reason is final; only a billable click carries its CPC."""
    return {
        "id": visit.id,
        "short_link_id": target.link_id,
        "partner_id": target.partner_id,
        "asset_id": target.asset_id,
        "offer_id": target.offer_id,
        "cpc_cents": None if reason else target.cpc_cents,
        "created_at": visit.created_at,
        "ip_hash": visit.ip_hash,
        "visitor_hash": visit.visitor_hash,
        "user_agent": visit.user_agent,
        "referrer": visit.referrer,
        "is_bot": visit.is_bot,
        "is_billable": not reason,
        "not_billable_reason": reason or None,
    }


def settle_repeats(rows: list[dict]) -> list[dict]:
    """The final billing decision of a flush batch: a row still billable becomes a ``repeat`` when the
    same visitor has another billable click on the same link within ``CLICK_REPEAT_WINDOW_MINUTES``,
    before or after it: in the database (inserted directly while Redis was down, or flushed before
    Redis lost its repeat keys) or earlier in this batch. The capture's Redis claim decides almost
    always; this makes the two paths agree, so an outage never bills a visitor twice in a window. One
    indexed query per batch (``ix_clicks_visitor``); rows already stored (a re-flush) are not counted
    against themselves. Returns the rows, changed in place."""
    window = timedelta(minutes=current_app.config["CLICK_REPEAT_WINDOW_MINUTES"])
    billable = sorted((r for r in rows if r["is_billable"] and r["short_link_id"] is not None), key=_at)
    if not billable or not window:
        return rows
    keys = {(row["short_link_id"], row["visitor_hash"]) for row in billable}
    batch_ids = {row["id"] for row in rows}
    stored = db.session.execute(
        select(Click.short_link_id, Click.visitor_hash, Click.created_at, Click.id).where(
            tuple_(Click.short_link_id, Click.visitor_hash).in_(keys),
            Click.is_billable.is_(True),
            Click.created_at > _at(billable[0]) - window,
            Click.created_at < _at(billable[-1]) + window,
        )
    ).all()
    seen: dict[tuple[int, str], list[datetime]] = {}
    for link_id, visitor_hash, created_at, click_id in stored:
        if click_id not in batch_ids:
            seen.setdefault((link_id, visitor_hash), []).append(created_at)
    for row in billable:
        times = seen.setdefault((row["short_link_id"], row["visitor_hash"]), [])
        if any(abs(row["created_at"] - other) < window for other in times):
            row.update(is_billable=False, not_billable_reason="repeat", cpc_cents=None)
        else:
            times.append(row["created_at"])
    return rows


def _at(row: dict) -> datetime:
    return row["created_at"]


def insert_clicks(rows: list[dict]) -> None:
    """Insert click rows, skipping ids already stored (a re-flush is harmless). Flushes, never commits.

    One executemany (psycopg pipelines it): measured faster than multi-row VALUES, which SQLAlchemy
    and psycopg spend longer rendering and parsing than the database spends inserting. Raises
    IntegrityError when a row names a partner, asset, link or offer deleted meanwhile."""
    if not rows:
        return
    if len(rows) >= COPY_THRESHOLD and db.session.get_bind().dialect.name == "postgresql":
        copy_clicks(rows)
        return
    db.session.execute(insert_or_skip(Click.__table__, "id"), rows)


#: From this many rows a PostgreSQL batch goes through COPY (the flush job's batches; the outage path
#: inserts one row at a time).
COPY_THRESHOLD = 50
#: What the capture writes: every column but ``accrual_batch``, which only the accrual sets.
CLICK_COLUMNS = tuple(column.name for column in Click.__table__.columns if column.name != "accrual_batch")


def copy_clicks(rows: list[dict]) -> None:
    """PostgreSQL: COPY the rows into a temporary table, then move them with one INSERT ... SELECT ...
    ON CONFLICT (id) DO NOTHING. Several times cheaper than row-by-row inserts, which matters because the
    flush shares its machine with the redirects (``bench/redirect.py``). Same guarantees: idempotent, and
    IntegrityError when a row names a deleted partner, asset, link or offer."""
    columns = ", ".join(CLICK_COLUMNS)
    db.session.execute(
        text("CREATE TEMPORARY TABLE IF NOT EXISTS clicks_incoming (LIKE clicks) ON COMMIT DELETE ROWS")
    )
    driver_connection = db.session.connection().connection.driver_connection
    with (
        driver_connection.cursor() as cursor,
        cursor.copy(f"COPY clicks_incoming ({columns}) FROM STDIN") as copy,
    ):
        for row in rows:
            copy.write_row([row[name] for name in CLICK_COLUMNS])
    db.session.execute(
        text(
            f"INSERT INTO clicks ({columns}) SELECT {columns} FROM clicks_incoming "  # noqa: S608 - fixed names
            "ON CONFLICT (id) DO NOTHING"
        )
    )
    db.session.execute(text("TRUNCATE clicks_incoming"))
