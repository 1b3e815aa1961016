"""Clicks: what a visit records, which clicks are billable, and how click rows reach the database.

The billing rule: **one billable click per visitor, per link, per ``CLICK_REPEAT_WINDOW_MINUTES``**, the
visitor being the keyed hash of the client IP alone (a rotating User-Agent from one IP bills one click).
HEAD requests and bots are recorded, never billable; further clicks of a visitor within the window are
recorded as ``repeat``. The window runs from the visitor's last billable click on the link.

The redirect (``click_capture``) appends each visit to a Redis stream, or to its process's buffer when
Redis does not answer (``click_buffer``); either way the click reaches the database in a batch, and the
billing decision is made there, once, by ``settle_repeats``: on PostgreSQL under ``SETTLE_LOCK_ID``, so
batches of several workers and processes never bill one visitor twice in a window (SQLite serialises
writers already).

Non-billable clicks store ``cpc_cents = None``: a click that earns nothing carries no price, so any sum
of ``cpc_cents`` is right even without an ``is_billable`` filter. Figures: ``bench/README.md``.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache

import psycopg
from crawleruseragents import is_crawler
from flask import current_app
from sqlalchemy import func, select, text, tuple_
from sqlalchemy.exc import IntegrityError

from contentflow.extensions import db
from contentflow.models import Click
from contentflow.models.base import insert_or_skip
from contentflow.security import SHORT_ID_ALPHABET
from contentflow.services.links import LinkTarget

log = logging.getLogger(__name__)

STREAM_KEY = "contentflow:clicks"
#: Every batch (from the stream, or from a web process's buffer while Redis is down) holds this
#: PostgreSQL advisory lock from its billing decision to its commit, so batches decide one after the
#: other and racing clicks of one visitor (a double click) bill once, however many workers and
#: processes write. One lock, whatever the batch's size.
SETTLE_LOCK_ID = int.from_bytes(
    hashlib.blake2b(b"contentflow:click-settle", digest_size=8).digest(), "big", signed=True
)


@dataclass(frozen=True, slots=True)
class Visit:
    """A click before its link is known: ``reason`` is ``head``, ``bot`` or '' (billable unless a
    repeat). The IP is kept only as its keyed hash, which is also the visitor's identity for billing."""

    id: str
    created_at: datetime
    ip_hash: str
    user_agent: str
    referrer: str
    is_bot: bool
    reason: str


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


def storable(value: str, limit: int) -> str:
    """``value`` cut to ``limit`` characters, without NUL bytes or lone surrogates (PostgreSQL refuses
    both, and one such click would stop every flush batch it is in)."""
    if "\x00" in value:
        value = value.replace("\x00", "")
    if not value.isascii():
        value = value.encode("utf-8", "replace").decode("utf-8")
    return value[:limit]


def ip_hash_of(ip: str, key: bytes) -> str:
    """``security.hash_ip`` (HMAC-SHA256, 32 hex characters) with the key already encoded."""
    return hmac.digest(key, ip.encode("utf-8", "replace"), "sha256").hex()[:32]


def new_visit(*, ip: str, user_agent: str, referrer: str, is_head: bool, key: bytes | None = None) -> Visit:
    """A visit made now, with its click id; ``key`` is ``IP_HASH_KEY`` encoded (default: the app's)."""
    if key is None:
        key = current_app.config["IP_HASH_KEY"].encode()
    user_agent = storable(user_agent, 512)
    is_bot = is_bot_agent(user_agent)
    return Visit(
        id=new_click_id(),
        created_at=datetime.now(UTC),
        ip_hash=ip_hash_of(ip, key),
        user_agent=user_agent,
        referrer=storable(referrer, 1024),
        is_bot=is_bot,
        reason="bot" if is_bot else ("head" if is_head else ""),
    )


def row_of(target: LinkTarget, visit: Visit, reason: str) -> dict:
    """The ``clicks`` row of a visit; only a billable click (no ``reason``) carries its CPC. The
    ``visitor_hash`` column holds the billing visitor: the IP's keyed hash."""
    return {
        "id": visit.id,
        "short_link_id": target.link_id,
        "partner_id": target.partner_id,
        "asset_id": target.asset_id,
        "offer_id": target.offer_id,
        "cpc_cents": None if reason else target.cpc_cents,
        "created_at": visit.created_at,
        "ip_hash": visit.ip_hash,
        "visitor_hash": visit.ip_hash,
        "user_agent": visit.user_agent,
        "referrer": visit.referrer,
        "is_bot": visit.is_bot,
        "is_billable": not reason,
        "not_billable_reason": reason or None,
    }


# --- the flush: a batch from the stream --------------------------------------------------------------


def settle_repeats(rows: list[dict]) -> list[dict]:
    """The billing decision of a batch (from the stream, or a web process's buffer): a row still billable
    becomes a ``repeat`` when the same visitor (IP) has another billable click on the same link within
    ``CLICK_REPEAT_WINDOW_MINUTES``, before or after it: in the database (stored by an earlier batch of
    either kind) or earlier in this batch. One indexed query per batch (``ix_clicks_visitor``); rows
    already stored (a re-flush) are not counted against themselves. On PostgreSQL it first takes
    ``SETTLE_LOCK_ID``, held until the caller commits the batch. Returns the rows, changed in place."""
    window = timedelta(minutes=current_app.config["CLICK_REPEAT_WINDOW_MINUTES"])
    billable = sorted((r for r in rows if r["is_billable"] and r["short_link_id"] is not None), key=_at)
    if not billable or not window:
        return rows
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(select(func.pg_advisory_xact_lock(SETTLE_LOCK_ID)))
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


#: From this many rows a PostgreSQL batch goes through COPY (the flush job's batches).
COPY_THRESHOLD = 50
#: What the capture writes: every column but ``accrual_batch``, which only the accrual sets.
CLICK_COLUMNS = tuple(column.name for column in Click.__table__.columns if column.name != "accrual_batch")


def copy_clicks(rows: list[dict]) -> None:
    """PostgreSQL: COPY the rows straight into ``clicks``, in a savepoint. Several times cheaper than row
    inserts, which matters because the flush shares its machine with the redirects
    (``bench/redirect.py``). When that fails on a constraint (a re-flush of clicks already stored, or a
    row whose partner, asset, link or offer was deleted), the savepoint is rolled back and the rows go
    through a temporary table and one INSERT ... SELECT ... ON CONFLICT (id) DO NOTHING: idempotent, and
    IntegrityError for a deleted partner, asset, link or offer."""
    try:
        with db.session.begin_nested():
            _copy_rows("clicks", rows)
        return
    except psycopg.errors.IntegrityError:
        pass
    columns = ", ".join(CLICK_COLUMNS)
    db.session.execute(
        text("CREATE TEMPORARY TABLE IF NOT EXISTS clicks_incoming (LIKE clicks) ON COMMIT DELETE ROWS")
    )
    _copy_rows("clicks_incoming", rows)
    db.session.execute(
        text(
            f"INSERT INTO clicks ({columns}) SELECT {columns} FROM clicks_incoming "  # noqa: S608 - fixed names
            "ON CONFLICT (id) DO NOTHING"
        )
    )
    db.session.execute(text("TRUNCATE clicks_incoming"))


def _copy_rows(table: str, rows: list[dict]) -> None:
    driver_connection = db.session.connection().connection.driver_connection
    with (
        driver_connection.cursor() as cursor,
        cursor.copy(f"COPY {table} ({', '.join(CLICK_COLUMNS)}) FROM STDIN") as copy,
    ):
        for row in rows:
            copy.write_row([row[name] for name in CLICK_COLUMNS])


def insert_each(rows: list[dict]) -> int:
    """Insert row by row, each in a savepoint, dropping (and logging) the rows whose partner, asset, link
    or offer is gone: their clicks would have been deleted with it. Returns how many were dropped. For
    a batch whose ``insert_clicks`` raised IntegrityError (after the caller rolled back)."""
    dropped = 0
    for row in rows:
        try:
            with db.session.begin_nested():
                insert_clicks([row])
        except IntegrityError:
            dropped += 1
            log.warning("click %s dropped: its partner, asset, link or offer is gone", row["id"])
    return dropped
