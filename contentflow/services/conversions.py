"""Conversions: the ledger effect of their status, and the admin's resolution of those needing review."""

from __future__ import annotations

from decimal import Decimal

from babel.numbers import get_currency_precision
from flask_babel import gettext as _
from sqlalchemy import select

from contentflow.errors import Conflict, NotFound, ValidationError
from contentflow.extensions import db
from contentflow.models import AdminUser, Asset, Click, Conversion, Network, Partner
from contentflow.services import audit, fx, ledger


def apply_money_effect(conversion: Conversion) -> None:
    """Bring the ledger in line with the status: the partner's share credited when confirmed, taken back
    when reversed; nothing while pending or rejected, or while the conversion awaits review. Idempotent
    (the ledger's keys are per conversion)."""
    if conversion.needs_review:
        return
    if conversion.status == "confirmed":
        ledger.credit_conversion(conversion)
    elif conversion.status == "reversed":
        ledger.reverse_conversion(conversion)


def list_needing_review(limit: int = 200) -> list[tuple[Conversion, str]]:
    """Conversions awaiting an admin, oldest first, with their network's name."""
    query = (
        select(Conversion, Network.name)
        .join(Network, Network.id == Conversion.network_id)
        .where(Conversion.needs_review.is_(True))
        .order_by(Conversion.id)
        .limit(limit)
    )
    return [(conversion, name) for conversion, name in db.session.execute(query)]


def amount_in_currency(conversion: Conversion) -> Decimal:
    """The commission as the network sent it, in units of its currency (``amount_minor`` is in minor
    units: cents, or yen)."""
    return Decimal(conversion.amount_minor).scaleb(-get_currency_precision(conversion.currency))


def resolve(
    conversion_id: int,
    *,
    click_id: str = "",
    partner_id: str = "",
    asset_id: str = "",
    admin: AdminUser | None = None,
) -> Conversion:
    """Attribute a conversion needing review (to a click, or to a partner and an asset), convert it at the
    current rate of its currency, and apply its status's money effect once. Audit-logged.

    Raises NotFound, Conflict (not awaiting review) or ValidationError (unknown click, partner or asset;
    no rate yet; amount over the network's cap). Idempotent: a second call finds nothing to resolve."""
    conversion = _lock_for_review(conversion_id)
    if click_id.strip():
        _attribute_to_click(conversion, click_id.strip())
    elif partner_id.strip() or asset_id.strip():
        _attribute_to_partner(conversion, partner_id.strip(), asset_id.strip())
    if conversion.partner_id is None:
        raise ValidationError(_("Give a click id, or a partner id and an asset id."), code="unattributed")
    if conversion.amount_eur_cents is None:
        _convert(conversion)
    conversion.needs_review = False
    conversion.review_reason = None
    db.session.flush()
    apply_money_effect(conversion)
    details = {
        "status": conversion.status,
        "partner_id": conversion.partner_id,
        "amount_eur_cents": conversion.amount_eur_cents,
    }
    audit.record_change(
        "conversion.resolve", admin=admin, target_type="conversion", target_id=conversion.id, details=details
    )
    return conversion


def reject(conversion_id: int, *, admin: AdminUser | None = None) -> Conversion:
    """Reject a conversion needing review: it never earns anything, and later postbacks of it are stale.
    Audit-logged.

    Raises NotFound or Conflict (not awaiting review)."""
    conversion = _lock_for_review(conversion_id)
    conversion.status = "rejected"
    conversion.needs_review = False
    db.session.flush()
    audit.record_change(
        "conversion.reject",
        admin=admin,
        target_type="conversion",
        target_id=conversion.id,
        details={"txn_id": conversion.txn_id},
    )
    return conversion


def _lock_for_review(conversion_id: int) -> Conversion:
    query = (
        select(Conversion)
        .where(Conversion.id == conversion_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    conversion = db.session.scalars(query).one_or_none()
    if conversion is None:
        raise NotFound(_("No such conversion."), code="unknown_conversion")
    if not conversion.needs_review:
        raise Conflict(_("This conversion was already resolved."), code="already_resolved")
    return conversion


def _attribute_to_click(conversion: Conversion, click_id: str) -> None:
    click = db.session.get(Click, click_id[:16])
    if click is None:
        raise ValidationError(_("No click with this id."), code="unknown_click")
    asset = db.session.get(Asset, click.asset_id)
    conversion.click_id = click.id
    conversion.partner_id = click.partner_id
    conversion.asset_id = click.asset_id
    conversion.offer_id = click.offer_id or (asset.offer_id if asset else None)


def _attribute_to_partner(conversion: Conversion, partner_id: str, asset_id: str) -> None:
    partner = db.session.get(Partner, partner_id[:12]) if partner_id else None
    asset = db.session.get(Asset, asset_id[:12]) if asset_id else None
    if partner is None or asset is None:
        raise ValidationError(_("Give an existing partner id and asset id."), code="unknown_partner_or_asset")
    conversion.click_id = None
    conversion.partner_id = partner.id
    conversion.asset_id = asset.id
    conversion.offer_id = asset.offer_id


def _convert(conversion: Conversion) -> None:
    rate = fx.get_rate(conversion.currency)
    if rate is None:
        raise ValidationError(
            _("No rate for %(currency)s yet: set it on the FX rates page.", currency=conversion.currency),
            code="no_rate",
        )
    eur_cents = fx.to_eur_cents(amount_in_currency(conversion), rate)
    network = db.session.get(Network, conversion.network_id)
    if network is not None and eur_cents > network.max_amount_cents:
        raise ValidationError(
            _("At this rate the amount is over the network's cap: check the rate, or reject."), code="absurd"
        )
    conversion.amount_eur_cents = eur_cents
    conversion.fx_rate = fx.rate_text(rate)
