"""Which click a postback's ``subid`` (``partner:asset:click``) names.

Authenticated postbacks are never thrown away: an unknown click, a subid naming another partner or
asset, a subid over 64 characters (stored cut) or a currency without a rate make a conversion that
needs review (200); an admin resolves it (``services.conversions``). So attribution answers a review
reason, never a refusal.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import joinedload

from contentflow.extensions import db
from contentflow.models import Asset, Click, Offer

MAX_SUBID_LENGTH = 64


def parse_subid(subid: str) -> tuple[str, str, str] | str:
    """``partner:asset:click`` -> its three ids, or the review reason when it cannot name a click
    (``subid_too_long``, ``unknown_click``). Raises nothing; pure."""
    if len(subid) > MAX_SUBID_LENGTH:
        return "subid_too_long"
    parts = subid.split(":")
    if len(parts) != 3 or not all(parts) or len(parts[2]) > 16:
        return "unknown_click"
    return parts[0], parts[1], parts[2]


def attribute(subid: str) -> tuple[Click | None, Asset | None, str]:
    """The click a ``partner:asset:click`` subid names, with its asset, or the review reason
    (``subid_too_long``, ``unknown_click``, ``click_mismatch``). One query; reads only, raises nothing."""
    parsed = parse_subid(subid)
    if isinstance(parsed, str):
        return None, None, parsed
    partner_id, asset_id, click_id = parsed
    # The asset's offer comes along (the share needs it), not the offer's network: its secrets would be
    # decrypted for nothing.
    query = (
        select(Click, Asset)
        .join(Asset, Asset.id == Click.asset_id)
        .where(Click.id == click_id)
        .options(joinedload(Asset.offer).lazyload(Offer.network))
    )
    row = db.session.execute(query).first()
    if row is None:
        return None, None, "unknown_click"
    click, asset = row
    if (click.partner_id, click.asset_id) != (partner_id, asset_id):
        return None, None, "click_mismatch"
    return click, asset, ""
