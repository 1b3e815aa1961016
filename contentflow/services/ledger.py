"""The one ledger: append-only EUR-cent entries per partner, each written at most once.

Every entry carries an idempotency key backed by a unique constraint; ``record_entry`` inserts with
ON CONFLICT DO NOTHING, so a replay, a retried job or a concurrent duplicate writes nothing. Amounts are
rounded once, per entry, half-up (``money.to_cents`` / ``money.share_cents``).

Keys: ``conv:<conversion>:credit|reversal``, ``cpc:<partner>:<offer>:<YYYY-MM-DD>``,
``payout:<payout>:request|returned``, ``adjust:<form key>``.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation

from flask_babel import gettext as _
from sqlalchemy import func, select

from contentflow.errors import ValidationError
from contentflow.extensions import db
from contentflow.models import AdminUser, Click, Conversion, LedgerEntry
from contentflow.models.base import insert_or_skip, utcnow
from contentflow.money import share_cents, to_cents
from contentflow.services import audit

#: Entries that move money between the partner and the operator's payout, not earnings.
WITHDRAWAL_KINDS = ("withdrawal", "withdrawal_returned")
#: Every other kind is an earning (reversals and adjustments may be negative).
EARNING_KINDS = ("click_earnings", "conversion_share", "referral_bonus", "reversal", "adjustment")
#: An admin adjustment cannot move more than this at once (a typo guard: 100,000 €).
MAX_ADJUSTMENT_CENTS = 10_000_000
ADJUSTMENT_KEY = re.compile(r"^[0-9a-f]{32}$")


def record_entry(
    partner_id: str,
    kind: str,
    amount_cents: int,
    idempotency_key: str,
    *,
    conversion_id: int | None = None,
    payout_id: int | None = None,
    memo: str = "",
    admin_user_id: int | None = None,
    created_at: datetime | None = None,
) -> LedgerEntry | None:
    """Append one entry unless ``idempotency_key`` exists. Returns the new entry, or None when it already
    existed (or the amount is zero). Idempotent under concurrency (unique key, no read-then-write)."""
    if amount_cents == 0:
        return None
    statement = (
        insert_or_skip(LedgerEntry, "idempotency_key")
        .values(
            partner_id=partner_id,
            kind=kind,
            amount_cents=amount_cents,
            idempotency_key=idempotency_key,
            conversion_id=conversion_id,
            payout_id=payout_id,
            memo=memo[:500],
            admin_user_id=admin_user_id,
            created_at=created_at or utcnow(),
        )
        .returning(LedgerEntry)
    )
    # RETURNING the entity: one round trip on the postback hot path, no SELECT after the INSERT.
    return db.session.scalars(statement).one_or_none()


def conversion_share_bps(conversion: Conversion) -> int:
    """The partner's share: the asset's own percent when it has one (BYOP), else the offer's; else 0."""
    from contentflow.models import Asset, Offer

    asset = db.session.get(Asset, conversion.asset_id) if conversion.asset_id else None
    if asset is not None and asset.revshare_bps is not None:
        return asset.revshare_bps
    offer = db.session.get(Offer, conversion.offer_id) if conversion.offer_id else None
    return offer.revshare_bps or 0 if offer is not None else 0


def credit_conversion(conversion: Conversion) -> LedgerEntry | None:
    """Credit the partner's share of a confirmed, attributed conversion. Idempotent (one per conversion)."""
    if conversion.partner_id is None or conversion.amount_eur_cents is None:
        return None
    amount = share_cents(conversion.amount_eur_cents, conversion_share_bps(conversion))
    return record_entry(
        conversion.partner_id,
        "conversion_share",
        amount,
        f"conv:{conversion.id}:credit",
        conversion_id=conversion.id,
        memo=f"sale {conversion.txn_id}",
    )


def reverse_conversion(conversion: Conversion) -> LedgerEntry | None:
    """Take back exactly what the conversion credited (a negative entry; later earnings absorb it when it
    was already paid out). Idempotent (one reversal per conversion)."""
    credited = db.session.scalar(
        select(func.coalesce(func.sum(LedgerEntry.amount_cents), 0)).where(
            LedgerEntry.conversion_id == conversion.id, LedgerEntry.kind == "conversion_share"
        )
    )
    if not credited or conversion.partner_id is None:
        return None
    return record_entry(
        conversion.partner_id,
        "reversal",
        -credited,
        f"conv:{conversion.id}:reversal",
        conversion_id=conversion.id,
        memo=f"reversed sale {conversion.txn_id}",
    )


# --- click earnings ------------------------------------------------------------------------------------


def start_of_day(day: date) -> datetime:
    """Midnight UTC at the start of ``day``."""
    return datetime.combine(day, time.min, tzinfo=UTC)


def accrue_click_earnings(day: date, *, now: datetime | None = None) -> int:
    """Credit the billable clicks of ``day`` (UTC): one entry per partner and offer, summing each click's
    ``cpc_cents`` as of the click. Returns how many entries were written.

    Raises ValidationError for today or a later day (only closed days are credited). Idempotent: the key
    ``cpc:<partner>:<offer>:<day>`` makes a re-run write nothing, and clicks that reach the database
    after their day was credited stay uncredited (the schedule runs well after the click flush).
    """
    now = now or utcnow()
    if day >= now.astimezone(UTC).date():
        raise ValidationError(_("Only a day that is over can be credited."), code="day_not_closed")
    start = start_of_day(day)
    rows = db.session.execute(
        select(Click.partner_id, Click.offer_id, func.sum(Click.cpc_cents), func.count())
        .where(
            Click.created_at >= start,
            Click.created_at < start + timedelta(days=1),
            Click.is_billable.is_(True),
            Click.cpc_cents > 0,
        )
        .group_by(Click.partner_id, Click.offer_id)
        .order_by(Click.partner_id, Click.offer_id)
    ).all()
    written = 0
    for partner_id, offer_id, total_cents, click_count in rows:
        entry = record_entry(
            partner_id,
            "click_earnings",
            int(total_cents),
            f"cpc:{partner_id}:{offer_id if offer_id is not None else 'none'}:{day.isoformat()}",
            memo=f"{click_count} clicks on {day.isoformat()}",
            created_at=now,
        )
        written += entry is not None
    return written


# --- admin adjustments ---------------------------------------------------------------------------------


def parse_euros(raw: str, *, allow_negative: bool = False) -> int:
    """``"12.5"`` or ``"12,50"`` euros -> 1250 cents. At most two decimals, never zero.

    Raises ValidationError (not an amount, zero, more than two decimals, negative when not allowed).
    """
    text = (raw or "").strip().replace(" ", "").replace("\u00a0", "").replace(",", ".")
    try:
        amount = Decimal(text)
    except InvalidOperation:
        raise ValidationError(_("Enter an amount in euros, like 12.50."), code="invalid_amount") from None
    if not amount.is_finite() or amount.as_tuple().exponent < -2:
        raise ValidationError(_("Enter an amount in euros, like 12.50."), code="invalid_amount")
    if amount == 0 or (amount < 0 and not allow_negative):
        raise ValidationError(_("The amount must be more than zero."), code="invalid_amount")
    return to_cents(amount)


def adjust_balance(
    partner_id: str, amount_cents: int, reason: str, admin: AdminUser, request_key: str
) -> LedgerEntry | None:
    """An admin's correction: a signed ``adjustment`` entry with its reason, audit-logged.

    ``request_key`` (32 hex characters, made when the form was shown) makes a double submit write once:
    returns None when that form was already applied. Raises ValidationError (no reason, zero or absurd
    amount, bad key).
    """
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError(_("Say why: the reason is required."), code="reason_required")
    if len(reason) > 500:
        raise ValidationError(_("The reason takes 500 characters at most."), code="reason_too_long")
    if amount_cents == 0 or abs(amount_cents) > MAX_ADJUSTMENT_CENTS:
        raise ValidationError(_("The amount must be between 0.01 and 100,000 euros."), code="invalid_amount")
    if not ADJUSTMENT_KEY.match(request_key or ""):
        raise ValidationError(_("This form expired. Reload the page and try again."), code="bad_form_key")
    entry = record_entry(
        partner_id, "adjustment", amount_cents, f"adjust:{request_key}", memo=reason, admin_user_id=admin.id
    )
    if entry is not None:
        audit.record(
            "ledger.adjust",
            admin=admin,
            target_type="partner",
            target_id=partner_id,
            details={"amount_cents": amount_cents, "reason": reason, "entry_id": entry.id},
        )
    return entry


def list_entries(partner_id: str, limit: int = 200) -> list[LedgerEntry]:
    """The partner's latest entries, newest first."""
    return list(
        db.session.scalars(
            select(LedgerEntry)
            .where(LedgerEntry.partner_id == partner_id)
            .order_by(LedgerEntry.created_at.desc(), LedgerEntry.id.desc())
            .limit(limit)
        )
    )
