"""Referrals: a partner's public code and share link, the partners it brought, and the referral bonus.

The bonus: ``REFERRAL_BONUS_PCT`` (a fraction; 0.10 = 10 %) of each click-earnings or sale-share entry
credited to a referred partner during their first ``REFERRAL_BONUS_DAYS`` days (by the entry's time),
rounded half-up, credited to the referrer as a ``referral_bonus`` ledger entry keyed
``referral:<source entry>:bonus``. When the source sale is later reversed (a ledger ``reversal`` entry
of its conversion), the bonus is taken back by a negative ``referral_bonus`` entry keyed
``referral:<source entry>:reversal``.

Exactly once: a source is claimed by inserting its ``earnings_referral_bonuses`` row (primary key: the
source entry; ON CONFLICT DO NOTHING, so a second or concurrent run skips it), a reversal by a
conditional UPDATE of that row; the ledger's unique keys stand behind both. Nothing here commits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from flask import current_app
from sqlalchemy import Interval, case, exists, func, literal, select, update
from sqlalchemy.orm import aliased

from contentflow.extensions import db
from contentflow.models import LedgerEntry, Partner
from contentflow.models.base import insert_or_skip, utcnow
from contentflow.money import fraction_to_bps, share_cents
from contentflow.services import ledger
from plugins.earnings.models import EarningsReferralBonus
from plugins.earnings.services.labels import mask_email

#: The referred partner's entries that earn their referrer a bonus: what their traffic earned.
SOURCE_KINDS = ("click_earnings", "conversion_share")
BATCH_SIZE = 500
#: Referred partners listed on the referrer's page (the count and the total cover them all).
LISTED_REFERRALS = 50


@dataclass(frozen=True)
class Referral:
    """A partner someone brought, as the referrer sees them."""

    label: str
    joined_at: datetime
    bonus_until: datetime
    bonus_cents: int


@dataclass(frozen=True)
class ReferralSummary:
    """What a referrer sees of their referrals."""

    code: str
    link: str
    referrals: tuple[Referral, ...]
    referral_count: int
    #: Every ``referral_bonus`` entry of the referrer's ledger, reversals included.
    bonus_cents: int


def bonus_bps() -> int:
    """``REFERRAL_BONUS_PCT`` in basis points (0.10 -> 1000)."""
    return fraction_to_bps(current_app.config["REFERRAL_BONUS_PCT"])


def bonus_days() -> int:
    """``REFERRAL_BONUS_DAYS``: how long after joining a partner's earnings give their referrer a bonus."""
    return int(current_app.config["REFERRAL_BONUS_DAYS"])


def share_link(partner: Partner) -> str:
    """The partner's public share link: the landing with their code, from ``PUBLIC_BASE_URL``."""
    return f"{current_app.config['PUBLIC_BASE_URL']}/partners?ref={partner.referral_code}"


def _window_end(column, days: int):
    """``column`` + ``days`` days, in SQL (SQLite has no interval type: its ``datetime`` modifier)."""
    if db.session.get_bind().dialect.name == "postgresql":
        return column + literal(timedelta(days=days), Interval())
    return func.datetime(column, f"+{days} days")


def _unclaimed_sources(now: datetime, days: int, limit: int) -> list:
    """Up to ``limit`` (source id, cents, kind, referred id, referred e-mail, referrer id) of referred
    partners' earnings in their first ``days`` days that no run claimed yet, in id order."""
    referred = aliased(Partner)
    sources = db.session.execute(
        select(LedgerEntry.id, LedgerEntry.amount_cents, LedgerEntry.kind, referred.id, referred.email)
        .add_columns(referred.referrer_id)
        .join(referred, referred.id == LedgerEntry.partner_id)
        .where(
            referred.referrer_id.is_not(None),
            LedgerEntry.kind.in_(SOURCE_KINDS),
            LedgerEntry.amount_cents > 0,
            LedgerEntry.created_at >= referred.created_at,
            LedgerEntry.created_at < _window_end(referred.created_at, days),
            LedgerEntry.created_at <= now,
            ~exists().where(EarningsReferralBonus.source_entry_id == LedgerEntry.id),
        )
        .limit(limit)  # no ORDER BY: it would make PostgreSQL walk the whole ledger by id
    ).all()
    # Claimed in id order: runs racing on the same sources wait for each other instead of deadlocking.
    return sorted(sources)


def _award_bonus(source, bps: int, now: datetime) -> None:
    """Claim ``source`` (a row of ``_unclaimed_sources``) and credit its referrer; nothing when another
    run claimed it first (ON CONFLICT DO NOTHING on the source's row)."""
    source_id, amount_cents, kind, referred_id, email, referrer_id = source
    cents = share_cents(amount_cents, bps)
    claimed = db.session.execute(
        insert_or_skip(EarningsReferralBonus, "source_entry_id")
        .values(
            source_entry_id=source_id,
            referrer_id=referrer_id,
            referred_id=referred_id,
            bonus_bps=bps,
            amount_cents=cents,
            created_at=now,
        )
        .returning(EarningsReferralBonus.source_entry_id)
    ).first()
    if claimed is None:
        return
    entry = ledger.record_entry(
        referrer_id,
        "referral_bonus",
        cents,
        f"referral:{source_id}:bonus",
        memo=f"referral bonus: {Decimal(bps) / 100:g} % of {kind} of {mask_email(email)}",
        created_at=now,
    )
    if entry is not None:
        db.session.execute(
            update(EarningsReferralBonus)
            .where(EarningsReferralBonus.source_entry_id == source_id)
            .values(bonus_entry_id=entry.id)
        )


def award_bonuses(*, now: datetime | None = None, limit: int = BATCH_SIZE) -> int:
    """Write the bonus of up to ``limit`` source entries no run handled yet; returns how many were
    looked at (0: nothing left). Idempotent, also when runs overlap (each source is claimed once)."""
    now = (now or utcnow()).astimezone(UTC)
    bps, days = bonus_bps(), bonus_days()
    if bps <= 0 or days <= 0:
        return 0
    sources = _unclaimed_sources(now, days, limit)
    for source in sources:
        _award_bonus(source, bps, now)
    return len(sources)


def _bonuses_of_reversed_sales(limit: int) -> list:
    """Up to ``limit`` (source id, referrer id, bonus cents) of credited bonuses not yet taken back whose
    source sale has a ledger reversal."""
    source, reversal = aliased(LedgerEntry), aliased(LedgerEntry)
    reversed_sale = exists().where(
        reversal.kind == "reversal",
        reversal.conversion_id == source.conversion_id,
        reversal.partner_id == source.partner_id,
    )
    return db.session.execute(
        select(EarningsReferralBonus.source_entry_id, EarningsReferralBonus.referrer_id)
        .add_columns(EarningsReferralBonus.amount_cents)
        .join(source, source.id == EarningsReferralBonus.source_entry_id)
        .where(
            EarningsReferralBonus.reversed_at.is_(None),
            EarningsReferralBonus.bonus_entry_id.is_not(None),
            source.conversion_id.is_not(None),
            reversed_sale,
        )
        .order_by(EarningsReferralBonus.source_entry_id)
        .limit(limit)
    ).all()


def _take_back_bonus(source_id: int, referrer_id: str, amount_cents: int, now: datetime) -> None:
    """Claim the reversal of ``source_id``'s bonus (a conditional UPDATE) and debit the referrer;
    nothing when another run reversed it first."""
    claimed = db.session.execute(
        update(EarningsReferralBonus)
        .where(
            EarningsReferralBonus.source_entry_id == source_id,
            EarningsReferralBonus.reversed_at.is_(None),
        )
        .values(reversed_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    if not claimed:
        return
    entry = ledger.record_entry(
        referrer_id,
        "referral_bonus",
        -amount_cents,
        f"referral:{source_id}:reversal",
        memo="referral bonus taken back: the sale was reversed",
        created_at=now,
    )
    if entry is not None:
        db.session.execute(
            update(EarningsReferralBonus)
            .where(EarningsReferralBonus.source_entry_id == source_id)
            .values(reversal_entry_id=entry.id)
            .execution_options(synchronize_session=False)
        )


def reverse_bonuses(*, now: datetime | None = None, limit: int = BATCH_SIZE) -> int:
    """Take back the bonus of up to ``limit`` sources whose sale was reversed; returns how many were
    looked at (0: nothing left). Idempotent, also when runs overlap (each bonus is reversed once)."""
    now = (now or utcnow()).astimezone(UTC)
    bonuses = _bonuses_of_reversed_sales(limit)
    for source_id, referrer_id, amount_cents in bonuses:
        _take_back_bonus(source_id, referrer_id, amount_cents, now)
    return len(bonuses)


def _net_bonus_per_referred(referrer_id: str, referred_ids: list[str]) -> dict[str, int]:
    """The bonus each of ``referred_ids`` earned ``referrer_id``, reversed bonuses counting 0."""
    net = case((EarningsReferralBonus.reversed_at.is_(None), EarningsReferralBonus.amount_cents), else_=0)
    rows = db.session.execute(
        select(EarningsReferralBonus.referred_id, func.sum(net))
        .where(
            EarningsReferralBonus.referrer_id == referrer_id,
            EarningsReferralBonus.referred_id.in_(referred_ids),
        )
        .group_by(EarningsReferralBonus.referred_id)
    ).all()
    return {referred_id: int(cents or 0) for referred_id, cents in rows}


def summary(partner: Partner, *, limit: int = LISTED_REFERRALS) -> ReferralSummary:
    """What the partner's referrals brought: their code and link, the partners they referred (masked,
    newest first, ``limit`` at most) with each one's net bonus, and the bonus total from the ledger."""
    days = bonus_days()
    referred = db.session.execute(
        select(Partner.id, Partner.email, Partner.created_at)
        .where(Partner.referrer_id == partner.id)
        .order_by(Partner.created_at.desc(), Partner.id)
        .limit(limit)
    ).all()
    per_referred = _net_bonus_per_referred(partner.id, [row.id for row in referred])
    count = db.session.scalar(
        select(func.count()).select_from(Partner).where(Partner.referrer_id == partner.id)
    )
    total = db.session.scalar(
        select(func.coalesce(func.sum(LedgerEntry.amount_cents), 0)).where(
            LedgerEntry.partner_id == partner.id, LedgerEntry.kind == "referral_bonus"
        )
    )
    return ReferralSummary(
        code=partner.referral_code,
        link=share_link(partner),
        referrals=tuple(
            Referral(
                label=mask_email(row.email),
                joined_at=row.created_at,
                bonus_until=row.created_at + timedelta(days=days),
                bonus_cents=per_referred.get(row.id, 0),
            )
            for row in referred
        ),
        referral_count=int(count or 0),
        bonus_cents=int(total),
    )
