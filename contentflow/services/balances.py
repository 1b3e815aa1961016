"""Balances, derived from the ledger alone, for one partner or for the whole network (``partner_id=None``).

- confirmed: every earning entry (all kinds but withdrawals and their return), reversals included;
- reserved: ``PAYOUT_RESERVE_PCT`` of what was credited (positive earning entries) in the last
  ``PAYOUT_RELEASE_DAYS`` days: a credit made on day D is released on D + ``PAYOUT_RELEASE_DAYS`` at
  00:00 UTC; rounded half-up per partner and credit day, so the network figure is the partners' sum;
  while a partner is on hold (``services.holds``), every credit made since the hold began is held in full
  instead (``held``, part of reserved) until the hold is lifted or expires;
- paid: withdrawals whose payout is paid; pending withdrawals: those requested or approved;
- available = confirmed - reserved - paid - pending; negative after a reversal of paid money (later
  earnings absorb it), shown as zero.

Not in the ledger, shown apart: today's billable clicks (credited after midnight UTC) and the partner's
share of pending conversions. Every function is read-only; ``now`` is an argument so figures can be
computed for any moment (tests freeze time that way).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from flask import current_app
from sqlalchemy import Select, func, or_, select

from contentflow.extensions import db
from contentflow.models import Asset, Click, Conversion, Hold, LedgerEntry, Offer, Payout
from contentflow.models.base import utcnow
from contentflow.money import round_half_up, share_cents
from contentflow.services.holds import active_clause
from contentflow.services.ledger import EARNING_KINDS, WITHDRAWAL_KINDS, start_of_day

#: Entries that say what traffic earned, for the EPC.
TRAFFIC_KINDS = ("click_earnings", "conversion_share", "reversal")
EPC_DAYS = 7


@dataclass(frozen=True)
class Release:
    """Part of the reserve, released on ``on`` (00:00 UTC)."""

    on: date
    amount_cents: int


@dataclass(frozen=True)
class Balances:
    """Money figures of a partner or the network, in EUR cents."""

    confirmed_cents: int
    reserved_cents: int
    paid_cents: int
    pending_withdrawals_cents: int
    #: The true figure, negative when a reversal took back money already paid: use it for maths.
    raw_available_cents: int
    releases: tuple[Release, ...]
    #: Part of reserved: credits made since the partner's active hold began, released when it ends.
    held_cents: int
    #: Billable clicks of today, credited after midnight UTC.
    today_cents: int
    #: The partner's share of conversions still pending at the network.
    pending_conversions_cents: int
    pending_conversion_count: int

    @property
    def available_cents(self) -> int:
        """What can be withdrawn, never shown below zero."""
        return max(0, self.raw_available_cents)

    @property
    def debt_cents(self) -> int:
        """What later earnings must absorb before anything is available again."""
        return max(0, -self.raw_available_cents)


@dataclass(frozen=True)
class CurrentOffer:
    """The headline: the best active CPC ("up to") and the 7-day EPC (None without clicks)."""

    offer: Offer | None
    cpc_cents: int | None
    epc_cents: int | None
    click_count: int
    earnings_cents: int


def _for(statement: Select, column, partner_id: str | None) -> Select:
    return statement if partner_id is None else statement.where(column == partner_id)


def utc_day(column):
    """The UTC calendar day of a timestamp column, in SQL (SQLite stores naive UTC text)."""
    if db.session.get_bind().dialect.name == "postgresql":
        return func.date(func.timezone("UTC", column))
    return func.date(column)


def as_date(value: date | str) -> date:
    """A day as the database returns it (a date, or ISO text on SQLite) as a date."""
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def get_balances(partner_id: str | None = None, *, now: datetime | None = None) -> Balances:
    """The balances of ``partner_id``, or of the whole network when None. Read-only."""
    now = (now or utcnow()).astimezone(UTC)
    confirmed = db.session.scalar(
        _for(
            select(func.coalesce(func.sum(LedgerEntry.amount_cents), 0)).where(
                LedgerEntry.kind.in_(EARNING_KINDS)
            ),
            LedgerEntry.partner_id,
            partner_id,
        )
    )
    withdrawn = _withdrawals_by_status(partner_id)
    paid = -withdrawn.get("paid", 0)
    pending = -(withdrawn.get("requested", 0) + withdrawn.get("approved", 0))
    releases = reserve_releases(partner_id, now=now)
    held = held_cents(partner_id, now=now)
    reserved = sum(release.amount_cents for release in releases) + held
    pending_share, pending_count = pending_conversions(partner_id)
    return Balances(
        confirmed_cents=int(confirmed),
        reserved_cents=reserved,
        paid_cents=paid,
        pending_withdrawals_cents=pending,
        raw_available_cents=int(confirmed) - reserved - paid - pending,
        releases=releases,
        held_cents=held,
        today_cents=uncredited_clicks_cents(partner_id, now=now),
        pending_conversions_cents=pending_share,
        pending_conversion_count=pending_count,
    )


def _withdrawals_by_status(partner_id: str | None) -> dict[str, int]:
    """Signed sum of withdrawal entries (and their returns) per status of their payout."""
    rows = db.session.execute(
        _for(
            select(Payout.status, func.sum(LedgerEntry.amount_cents))
            .join(Payout, Payout.id == LedgerEntry.payout_id)
            .where(LedgerEntry.kind.in_(WITHDRAWAL_KINDS))
            .group_by(Payout.status),
            LedgerEntry.partner_id,
            partner_id,
        )
    ).all()
    return {status: int(total) for status, total in rows}


def _hold_starts(now: datetime):
    """Per partner on hold, when their earliest active hold began (a subquery)."""
    return (
        select(Hold.partner_id, func.min(Hold.created_at).label("since"))
        .where(*active_clause(now))
        .group_by(Hold.partner_id)
        .subquery()
    )


def held_cents(partner_id: str | None = None, *, now: datetime | None = None) -> int:
    """What was credited (positive earning entries) since the partner's active hold began, held in full
    until the hold is lifted or expires; 0 when not on hold. Read-only."""
    since = _hold_starts((now or utcnow()).astimezone(UTC))
    return int(
        db.session.scalar(
            _for(
                select(func.coalesce(func.sum(LedgerEntry.amount_cents), 0))
                .join(since, since.c.partner_id == LedgerEntry.partner_id)
                .where(
                    LedgerEntry.kind.in_(EARNING_KINDS),
                    LedgerEntry.amount_cents > 0,
                    LedgerEntry.created_at >= since.c.since,
                ),
                LedgerEntry.partner_id,
                partner_id,
            )
        )
    )


def reserve_releases(partner_id: str | None = None, *, now: datetime | None = None) -> tuple[Release, ...]:
    """The reserve by release day, soonest first, of the credits not held by a hold (``held_cents``).
    Rounded half-up per partner and credit day."""
    now = (now or utcnow()).astimezone(UTC)
    config = current_app.config
    days, fraction = config["PAYOUT_RELEASE_DAYS"], config["PAYOUT_RESERVE_PCT"]
    if days <= 0 or fraction <= 0:
        return ()
    since = start_of_day(now.date() - timedelta(days=days - 1))
    held_since = _hold_starts(now)
    credit_day = utc_day(LedgerEntry.created_at)
    rows = db.session.execute(
        _for(
            select(LedgerEntry.partner_id, credit_day, func.sum(LedgerEntry.amount_cents))
            .outerjoin(held_since, held_since.c.partner_id == LedgerEntry.partner_id)
            .where(
                LedgerEntry.kind.in_(EARNING_KINDS),
                LedgerEntry.amount_cents > 0,
                LedgerEntry.created_at >= since,
                or_(held_since.c.since.is_(None), LedgerEntry.created_at < held_since.c.since),
            )
            .group_by(LedgerEntry.partner_id, credit_day),
            LedgerEntry.partner_id,
            partner_id,
        )
    ).all()
    by_release: dict[date, int] = defaultdict(int)
    for _partner, day, credited in rows:
        # The one rounding rule, with the fraction as basis points (exact: Decimal all along).
        by_release[as_date(day) + timedelta(days=days)] += share_cents(int(credited), fraction * 10000)
    return tuple(Release(on, cents) for on, cents in sorted(by_release.items()) if cents)


def uncredited_clicks_cents(partner_id: str | None = None, *, now: datetime | None = None) -> int:
    """What today's billable clicks earn so far; credited by the accrual after midnight UTC."""
    now = (now or utcnow()).astimezone(UTC)
    return int(
        db.session.scalar(
            _for(
                select(func.coalesce(func.sum(Click.cpc_cents), 0)).where(
                    Click.created_at >= start_of_day(now.date()),
                    Click.created_at <= now,
                    Click.is_billable.is_(True),
                ),
                Click.partner_id,
                partner_id,
            )
        )
    )


def pending_conversions(partner_id: str | None = None) -> tuple[int, int]:
    """The partner's share (asset percent, else offer percent) of pending conversions, and their count."""
    rows = db.session.execute(
        _for(
            select(Conversion.amount_eur_cents, Asset.revshare_bps, Offer.revshare_bps)
            .outerjoin(Asset, Asset.id == Conversion.asset_id)
            .outerjoin(Offer, Offer.id == Conversion.offer_id)
            .where(
                Conversion.status == "pending",
                Conversion.partner_id.is_not(None),
                Conversion.amount_eur_cents.is_not(None),
            ),
            Conversion.partner_id,
            partner_id,
        )
    ).all()
    total = sum(
        share_cents(amount, asset_bps if asset_bps is not None else (offer_bps or 0))
        for amount, asset_bps, offer_bps in rows
    )
    return total, len(rows)


def list_pending_conversions(partner_id: str, limit: int = 100) -> list[tuple[Conversion, int | None]]:
    """The partner's pending conversions, newest first, each with the share it would credit (None while
    it has no EUR amount)."""
    rows = db.session.execute(
        select(Conversion, Asset.revshare_bps, Offer.revshare_bps)
        .outerjoin(Asset, Asset.id == Conversion.asset_id)
        .outerjoin(Offer, Offer.id == Conversion.offer_id)
        .where(Conversion.partner_id == partner_id, Conversion.status == "pending")
        .order_by(Conversion.created_at.desc(), Conversion.id.desc())
        .limit(limit)
    ).all()
    return [
        (
            conversion,
            None
            if conversion.amount_eur_cents is None
            else share_cents(
                conversion.amount_eur_cents, asset_bps if asset_bps is not None else (offer_bps or 0)
            ),
        )
        for conversion, asset_bps, offer_bps in rows
    ]


def current_offer(partner_id: str | None = None, *, now: datetime | None = None) -> CurrentOffer:
    """The best active offer's CPC ("up to") and the EPC of the last 7 days: earnings credited from
    traffic (click earnings, conversion shares, reversals) per billable click, in cents rounded half-up.
    For one partner or, with None, the network. Read-only."""
    now = (now or utcnow()).astimezone(UTC)
    since = now - timedelta(days=EPC_DAYS)
    offer = db.session.scalar(
        select(Offer)
        .where(Offer.is_active.is_(True), Offer.cpc_cents.is_not(None))
        .order_by(Offer.cpc_cents.desc(), Offer.id)
        .limit(1)
    )
    earnings = int(
        db.session.scalar(
            _for(
                select(func.coalesce(func.sum(LedgerEntry.amount_cents), 0)).where(
                    LedgerEntry.kind.in_(TRAFFIC_KINDS),
                    LedgerEntry.created_at >= since,
                    LedgerEntry.created_at <= now,
                ),
                LedgerEntry.partner_id,
                partner_id,
            )
        )
    )
    clicks = int(
        db.session.scalar(
            _for(
                select(func.count())
                .select_from(Click)
                .where(Click.is_billable.is_(True), Click.created_at >= since, Click.created_at <= now),
                Click.partner_id,
                partner_id,
            )
        )
    )
    epc = None
    if clicks:
        epc = round_half_up(Decimal(earnings) / clicks)
    return CurrentOffer(
        offer=offer,
        cpc_cents=offer.cpc_cents if offer is not None else None,
        epc_cents=epc,
        click_count=clicks,
        earnings_cents=earnings,
    )
