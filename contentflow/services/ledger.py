"""The one ledger: append-only EUR-cent entries per partner, each written at most once.

Every entry carries an idempotency key backed by a unique constraint; ``record_entry`` inserts with
ON CONFLICT DO NOTHING, so a replay, a retried job or a concurrent duplicate writes nothing.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite

from contentflow.extensions import db
from contentflow.models import Conversion, LedgerEntry
from contentflow.money import share_cents


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
) -> LedgerEntry | None:
    """Append one entry unless ``idempotency_key`` exists. Returns the new entry, or None when it already
    existed (or the amount is zero). Idempotent under concurrency (unique key, no read-then-write)."""
    if amount_cents == 0:
        return None
    dialect = db.session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = (
        insert(LedgerEntry)
        .values(
            partner_id=partner_id,
            kind=kind,
            amount_cents=amount_cents,
            idempotency_key=idempotency_key,
            conversion_id=conversion_id,
            payout_id=payout_id,
            memo=memo[:500],
            admin_user_id=admin_user_id,
        )
        .on_conflict_do_nothing(index_elements=["idempotency_key"])
        .returning(LedgerEntry.id)
    )
    entry_id = db.session.execute(statement).scalar_one_or_none()
    return db.session.get(LedgerEntry, entry_id) if entry_id is not None else None


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
