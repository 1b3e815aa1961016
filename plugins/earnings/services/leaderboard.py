"""The anonymised leaderboard: the top partners by billable clicks or by ledger earnings over the last
``days`` days (1 to 90, default 7), labelled by masked e-mail only.

Clicks are the core's billable clicks (bots and repeats are not); earnings are the ledger's earning
entries (``ledger.EARNING_KINDS``: click earnings, sale shares, referral bonuses, reversals,
adjustments) credited in the period. Active partners only. Ties share a rank (1, 2, 2, 4). Read-only;
rankings are cached in Redis for a minute (``top_partners``).
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from redis.exceptions import RedisError
from sqlalchemy import Select, Subquery, func, select

from contentflow.extensions import db
from contentflow.models import Click, LedgerEntry, Partner
from contentflow.models.base import utcnow
from contentflow.queueing import redis_connection
from contentflow.services.ledger import EARNING_KINDS
from plugins.earnings.services.labels import mask_email

log = logging.getLogger(__name__)

METRICS = ("clicks", "earnings")
DEFAULT_DAYS = 7
MIN_DAYS = 1
MAX_DAYS = 90
SIZE = 20
#: How long a ranking is served from Redis before it is computed again.
CACHE_SECONDS = 60
CACHE_PREFIX = "contentflow:earnings:leaderboard"
#: The member every cached ranking holds (score 0, below every figure): an empty period is cached too.
EMPTY = "-"


@dataclass(frozen=True)
class Period:
    """The days asked for, as used: clamped to 1-90. ``note`` says why it differs from the request
    (``not_a_number``, ``too_short``, ``too_long``), None when it does not."""

    days: int
    note: str | None = None


@dataclass(frozen=True)
class Row:
    """One line of the board. ``value`` is a click count or EUR cents, by the board's metric."""

    rank: int
    label: str
    value: int
    is_me: bool = False


@dataclass(frozen=True)
class Board:
    """A leaderboard: its metric and period, its rows best first."""

    metric: str
    days: int
    rows: tuple[Row, ...]
    #: The signed-in partner's own line when they are not in ``rows`` but have a figure.
    own_row: Row | None = None


def clamp_days(raw: str | None) -> Period:
    """``?days=`` as a period of 1 to 90 days; missing means 7. Never raises: a bad value is clamped
    (or replaced by 7 when it is not a whole number) and the period says so."""
    text = (raw or "").strip()
    if not text:
        return Period(DEFAULT_DAYS)
    sign, digits = (text[0], text[1:]) if text[0] in "+-" else ("", text)
    if not (digits.isascii() and digits.isdigit()):  # int() also takes "1_0" and "٣٠"
        return Period(DEFAULT_DAYS, "not_a_number")
    digits = digits.lstrip("0") or "0"
    # A number of thousands of digits is out of range, not "not a number" (int() refuses those).
    days = int(digits) if len(digits) <= 3 else MAX_DAYS + 1
    days = -days if sign == "-" else days
    if days < MIN_DAYS:
        return Period(MIN_DAYS, "too_short")
    if days > MAX_DAYS:
        return Period(MAX_DAYS, "too_long")
    return Period(days)


def choose_metric(raw: str | None) -> str:
    """``?by=``: ``clicks`` (the default) or ``earnings``; anything else is clicks."""
    return raw if raw in METRICS else METRICS[0]


def _totals(metric: str, since: datetime, until: datetime) -> Subquery:
    """Per partner, the metric's figure over [since, until]: (partner_id, value), positive values only."""
    if metric == "clicks":
        value = func.count(Click.id)
        statement = (
            select(Click.partner_id.label("partner_id"), value.label("value"))
            .where(Click.is_billable.is_(True), Click.created_at >= since, Click.created_at <= until)
            .group_by(Click.partner_id)
        )
    else:
        value = func.sum(LedgerEntry.amount_cents)
        statement = (
            select(LedgerEntry.partner_id.label("partner_id"), value.label("value"))
            .where(
                LedgerEntry.kind.in_(EARNING_KINDS),
                LedgerEntry.created_at >= since,
                LedgerEntry.created_at <= until,
            )
            .group_by(LedgerEntry.partner_id)
        )
    return statement.having(value > 0).subquery("totals")


def _ranked(metric: str, days: int, now: datetime) -> Select:
    """(partner_id, email, value) of every active partner with a figure in the period."""
    totals = _totals(metric, now - timedelta(days=days), now)
    return (
        select(totals.c.partner_id, Partner.email, totals.c.value)
        .join(Partner, Partner.id == totals.c.partner_id)
        .where(Partner.status == "active")
    )


def top_partners(
    metric: str, days: int, *, me_id: str | None = None, now: datetime | None = None, size: int = SIZE
) -> Board:
    """The ``size`` best active partners by ``metric`` over the last ``days`` days (rolling, up to
    ``now``), with ``me_id``'s row marked, or given apart when it is not among them. Read-only.

    The ranking is one aggregate over up to 90 days of clicks (a second on millions of rows), on a public
    page: it is kept in a Redis sorted set per metric and period, rebuilt at most every CACHE_SECONDS.
    With ``now`` given (tests, replays) or Redis unreachable, it is read from the database."""
    if now is None:
        try:
            return _board_from_cache(metric, days, me_id, size)
        except RedisError:
            log.warning("leaderboard cache unavailable: reading the database", exc_info=True)
    return _board_from_database(metric, days, me_id, (now or utcnow()).astimezone(UTC), size)


def _rows(found: list[tuple[str, str, int]], me_id: str | None) -> list[Row]:
    """Rows of (partner_id, email, value), best first; equal values share a rank."""
    rows: list[Row] = []
    for index, (partner_id, email, value) in enumerate(found):
        rank = rows[-1].rank if rows and rows[-1].value == value else index + 1
        rows.append(Row(rank, mask_email(email), int(value), partner_id == me_id))
    return rows


def _board_from_database(metric: str, days: int, me_id: str | None, now: datetime, size: int) -> Board:
    ranked = _ranked(metric, days, now)
    found = db.session.execute(
        ranked.order_by(ranked.selected_columns["value"].desc(), Partner.id).limit(size)
    )
    rows = _rows([tuple(row) for row in found], me_id)
    own_row = None
    if me_id is not None and not any(row.is_me for row in rows):
        ranking = ranked.subquery("ranked")
        mine = db.session.execute(
            select(ranking.c.email, ranking.c.value).where(ranking.c.partner_id == me_id)
        ).first()
        if mine is not None:
            ahead = db.session.scalar(
                select(func.count()).select_from(ranking).where(ranking.c.value > mine.value)
            )
            own_row = Row(int(ahead) + 1, mask_email(mine.email), int(mine.value), True)
    return Board(metric=metric, days=days, rows=tuple(rows), own_row=own_row)


def _build_ranking(key: str, metric: str, days: int) -> None:
    """Store every ranked partner's figure in the sorted set ``key`` for CACHE_SECONDS, with EMPTY
    (score 0, below every figure) so that a period without any figure is cached too."""
    scores = {
        partner_id: int(value)
        for partner_id, _email, value in db.session.execute(_ranked(metric, days, utcnow()))
    }
    staging = f"{key}:{uuid.uuid4().hex}"
    with redis_connection().pipeline() as pipe:
        pipe.zadd(staging, {EMPTY: 0, **scores})
        pipe.expire(staging, CACHE_SECONDS)
        pipe.rename(staging, key)  # readers see the old set or the whole new one, never half of it
        pipe.execute()


def _read_ranking(key: str, me_id: str | None, size: int) -> tuple[bool, list, float | None]:
    """Whether the ranking exists, its ``size`` best (member, score), and ``me_id``'s score; at once."""
    with redis_connection().pipeline() as pipe:
        pipe.exists(key)
        pipe.zrevrangebyscore(key, "+inf", "(0", start=0, num=size, withscores=True)
        pipe.zscore(key, me_id or EMPTY)
        exists, best, mine = pipe.execute()
    return bool(exists), best, mine if me_id else None


def _board_from_cache(metric: str, days: int, me_id: str | None, size: int) -> Board:
    key = f"{CACHE_PREFIX}:{metric}:{days}"
    exists, best, mine = _read_ranking(key, me_id, size)
    if not exists:
        _build_ranking(key, metric, days)
        exists, best, mine = _read_ranking(key, me_id, size)
    ranked = [(member.decode(), int(score)) for member, score in best]
    ahead = redis_connection().zcount(key, f"({mine}", "+inf") if mine else 0
    wanted = [partner_id for partner_id, _value in ranked] + ([me_id] if me_id else [])
    emails = dict(db.session.execute(select(Partner.id, Partner.email).where(Partner.id.in_(wanted))).all())
    rows = _rows([(partner_id, emails.get(partner_id, ""), value) for partner_id, value in ranked], me_id)
    own_row = None
    if mine and not any(row.is_me for row in rows):
        own_row = Row(int(ahead) + 1, mask_email(emails.get(me_id, "")), int(mine), True)
    return Board(metric=metric, days=days, rows=tuple(rows), own_row=own_row)
