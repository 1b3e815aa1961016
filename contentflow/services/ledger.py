"""The one ledger: append-only EUR-cent entries per partner, each written at most once.

Every entry carries an idempotency key backed by a unique constraint; ``record_entry`` inserts with
ON CONFLICT DO NOTHING, so a replay, a retried job or a concurrent duplicate writes nothing. Amounts are
rounded once, per entry, half-up (``money.to_cents`` / ``money.share_cents``).

Keys: ``conv:<conversion>:credit|reversal``, ``cpc:<partner>:<offer>:<YYYY-MM-DD>:<accrual batch>``,
``payout:<payout>:request|returned``, ``adjust:<form key>``.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, date, datetime, time, timedelta

from flask_babel import gettext as _
from sqlalchemy import func, select, update

from contentflow.errors import ValidationError
from contentflow.extensions import db
from contentflow.models import AdminUser, Click, Conversion, LedgerEntry
from contentflow.models.base import insert_or_skip, utcnow
from contentflow.money import share_cents
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


def accrue_click_earnings(day: date, *, now: datetime | None = None, batch: str | None = None) -> int:
    """Credit the billable clicks of ``day`` (UTC) that no run credited yet: one entry per partner and
    offer, summing each click's ``cpc_cents`` as of the click. Returns how many entries were written.

    Each click is claimed by the run that credits it (``clicks.accrual_batch``, set in the same
    transaction as the entries, keyed ``cpc:<partner>:<offer>:<day>:<batch>``): a re-run writes nothing,
    a click that reached the database after its day was credited is credited by the next run, exactly
    once, and two racing runs cannot claim the same click (PostgreSQL re-checks the claim's condition on
    rows another run locked). Raises ValidationError for today or a later day (only closed days).
    """
    now = now or utcnow()
    if day >= now.astimezone(UTC).date():
        raise ValidationError(_("Only a day that is over can be credited."), code="day_not_closed")
    batch = batch or uuid.uuid4().hex[:12]
    written = 0
    for partner_id, offer_id, total_cents, click_count in claim_clicks(day, batch):
        entry = record_entry(
            partner_id,
            "click_earnings",
            int(total_cents),
            f"cpc:{partner_id}:{offer_id if offer_id is not None else 'none'}:{day.isoformat()}:{batch}",
            memo=f"{click_count} clicks on {day.isoformat()}",
            created_at=now,
        )
        written += entry is not None
    return written


def _unaccrued(start: datetime, end: datetime) -> tuple:
    return (
        Click.accrual_batch.is_(None),
        Click.is_billable.is_(True),
        Click.cpc_cents > 0,
        Click.created_at >= start,
        Click.created_at < end,
    )


def claim_clicks(day: date, batch: str) -> list[tuple[str, int | None, int, int]]:
    """Mark the uncredited billable clicks of ``day`` as credited by ``batch``; returns their
    ``(partner, offer, cents, count)`` sums, by partner and offer. PostgreSQL sums them in the same
    statement; SQLite (first run, small) returns the claimed rows and they are summed here."""
    start = start_of_day(day)
    claim = (
        update(Click)
        .where(*_unaccrued(start, start + timedelta(days=1)))
        .values(accrual_batch=batch)
        .returning(Click.partner_id, Click.offer_id, Click.cpc_cents)
    )
    if db.session.get_bind().dialect.name == "postgresql":
        claimed = claim.cte("claimed")
        sums = (
            select(claimed.c.partner_id, claimed.c.offer_id, func.sum(claimed.c.cpc_cents), func.count())
            .group_by(claimed.c.partner_id, claimed.c.offer_id)
            .order_by(claimed.c.partner_id, claimed.c.offer_id)
        )
        return [tuple(row) for row in db.session.execute(sums)]
    totals: dict[tuple[str, int | None], list[int]] = {}
    for partner_id, offer_id, cpc_cents in db.session.execute(
        claim.execution_options(synchronize_session=False)
    ):
        total = totals.setdefault((partner_id, offer_id), [0, 0])
        total[0] += cpc_cents
        total[1] += 1
    return [(p, o, cents, count) for (p, o), (cents, count) in sorted(totals.items(), key=str)]


def days_to_accrue(*, now: datetime | None = None) -> list[date]:
    """Closed UTC days holding billable clicks no run credited yet (a partial index keeps this cheap)."""
    today = start_of_day((now or utcnow()).astimezone(UTC).date())
    day = _click_day()
    rows = db.session.scalars(
        select(day).where(*_unaccrued(datetime(2000, 1, 1, tzinfo=UTC), today)).group_by(day).order_by(day)
    )
    return [value if isinstance(value, date) else date.fromisoformat(str(value)) for value in rows]


def _click_day():
    if db.session.get_bind().dialect.name == "postgresql":
        return func.date(func.timezone("UTC", Click.created_at))
    return func.date(Click.created_at)


# --- admin adjustments ---------------------------------------------------------------------------------


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


def list_entries(partner_id: str, limit: int = 200, offset: int = 0) -> list[LedgerEntry]:
    """The partner's latest entries, newest first, skipping the ``offset`` newest (pages)."""
    return list(
        db.session.scalars(
            select(LedgerEntry)
            .where(LedgerEntry.partner_id == partner_id)
            .order_by(LedgerEntry.created_at.desc(), LedgerEntry.id.desc())
            .limit(limit)
            .offset(offset)
        )
    )
