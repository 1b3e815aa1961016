"""A sale recorded on its conversion: a new row, written with INSERT ... ON CONFLICT DO NOTHING on its
unique (network, txn_id), or the existing row, locked (SELECT ... FOR UPDATE) until the commit and moved
along the status machine (``TRANSITIONS``), with its money effect (``conversions.apply_money_effect``).
A replay of the current status, or a status the machine does not allow from it, changes nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from contentflow.extensions import db
from contentflow.models import Asset, Click, Conversion, Network
from contentflow.models.base import insert_or_skip
from contentflow.services import conversions
from contentflow.services.postbacks.attribution import MAX_SUBID_LENGTH
from contentflow.services.postbacks.sales import Sale

#: (current, reported) -> new status. A network taking a sale back before confirming it rejects it
#: (nothing was credited); declining it after confirming reverses it (the credit is taken back).
TRANSITIONS: dict[tuple[str, str], str] = {
    ("pending", "confirmed"): "confirmed",
    ("pending", "rejected"): "rejected",
    ("pending", "reversed"): "rejected",
    ("confirmed", "reversed"): "reversed",
    ("confirmed", "rejected"): "reversed",
}


def insert_conversion(
    network: Network, sale: Sale, click: Click | None, asset: Asset | None, reason: str
) -> Conversion | None:
    """The new conversion (attributed to ``click``, or needing review for ``reason``), or None when
    (network, txn_id) exists already: no error, no lock wait beyond a concurrent insert of the same key.

    Raises only database errors. Idempotent: the unique (network, txn_id) admits one row."""
    reasons = [reason] if reason else []
    if sale.amount_eur_cents is None:
        reasons.append("no_rate")
    now = datetime.now(UTC)
    statement = (
        insert_or_skip(Conversion, "network_id", "txn_id")
        .values(
            network_id=network.id,
            txn_id=sale.txn_id,
            subid=sale.subid[:MAX_SUBID_LENGTH],
            click_id=click.id if click else None,
            partner_id=click.partner_id if click else None,
            asset_id=click.asset_id if click else None,
            offer_id=(click.offer_id or asset.offer_id) if click and asset else None,
            status=sale.status,
            amount_minor=sale.amount_minor,
            currency=sale.currency,
            amount_eur_cents=sale.amount_eur_cents,
            fx_rate=sale.fx_rate,
            needs_review=bool(reasons),
            review_reason=",".join(reasons) or None,
            created_at=now,
            updated_at=now,
        )
        .returning(Conversion)
    )
    return db.session.scalars(statement).one_or_none()


def lock_existing(network_id: int, txn_id: str) -> Conversion:
    """The existing conversion, locked until the commit so its status changes once.

    Raises only database errors: the row exists (the caller's insert just skipped it, and conversions
    are never deleted). Idempotent."""
    query = (
        select(Conversion)
        .where(Conversion.network_id == network_id, Conversion.txn_id == txn_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return db.session.scalars(query).one()


def apply_status(conversion: Conversion, sale: Sale) -> tuple[str, str]:
    """Move ``conversion`` (locked) to the reported status when the machine allows it, with its money
    effect.

    Returns (outcome, reason): duplicate/replay, ignored/stale_status, or accepted (review when the
    conversion still awaits an admin) with ``<from>_to_<to>``. Raises only database errors. Idempotent:
    the same report again is a replay, and the ledger's keys are per conversion."""
    current = conversion.status
    if sale.status == current:
        return "duplicate", "replay"
    target = TRANSITIONS.get((current, sale.status))
    if target is None:
        return "ignored", "stale_status"
    if target == "confirmed":
        _take_confirmed_amount(conversion, sale)
    conversion.status = target
    db.session.flush()
    conversions.apply_money_effect(conversion)
    return ("review" if conversion.needs_review else "accepted"), f"{current}_to_{target}"


def _take_confirmed_amount(conversion: Conversion, sale: Sale) -> None:
    """The confirmed commission is what the network pays: it replaces the pending one."""
    conversion.amount_minor = sale.amount_minor
    conversion.currency = sale.currency
    conversion.amount_eur_cents = sale.amount_eur_cents
    conversion.fx_rate = sale.fx_rate
    reasons = [r for r in (conversion.review_reason or "").split(",") if r and r != "no_rate"]
    if sale.amount_eur_cents is None:
        reasons.append("no_rate")
    conversion.needs_review = bool(reasons)
    conversion.review_reason = ",".join(reasons) or None
