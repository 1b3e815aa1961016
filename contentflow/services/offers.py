"""Affiliate networks and offers."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from urllib.parse import urlsplit

from flask_babel import gettext as _
from sqlalchemy import select

from contentflow.errors import Conflict, NotFound, ValidationError
from contentflow.extensions import db
from contentflow.models import Network, Offer
from contentflow.money import to_cents

SUBID_MACRO = "{subid}"
#: The length of ``Offer.url_template``.
MAX_URL_LENGTH = 2048


def create_network(name: str, secret: str) -> Network:
    """A network whose postbacks authenticate with ``secret`` (stored encrypted).

    Raises ValidationError (bad name, short secret) or Conflict (name taken)."""
    name = name.strip()
    if not name or len(name) > 64 or not all(c.isascii() and (c.isalnum() or c in "-_.") for c in name):
        raise ValidationError(_("A network name uses letters, digits, '-', '_' or '.' (64 at most)."))
    if len(secret) < 16:
        raise ValidationError(_("A network secret needs at least 16 characters."), code="weak_secret")
    if get_network_by_name(name) is not None:
        raise Conflict(_("A network with this name already exists."), code="network_exists")
    network = Network(name=name, secret=secret)
    db.session.add(network)
    db.session.flush()
    return network


def get_network_by_name(name: str) -> Network | None:
    """The network named ``name`` (as its postbacks spell it), or None."""
    return db.session.scalar(select(Network).where(Network.name == name))


def parse_percent(raw: str | Decimal) -> int:
    """A percent as the UI and CLI take it (``40`` or ``12.5``) -> basis points (4000, 1250).

    Raises ValidationError outside 0-100 or finer than a basis point (0.01 %), which would otherwise be
    silently cut off.
    """
    try:
        value = Decimal(str(raw).strip().rstrip("%"))
    except InvalidOperation:
        raise ValidationError(_("The revenue share is a percent between 0 and 100.")) from None
    if not value.is_finite() or not 0 <= value <= 100:
        raise ValidationError(_("The revenue share is a percent between 0 and 100."))
    basis_points = value * 100
    if basis_points != basis_points.to_integral_value():
        raise ValidationError(_("The revenue share is precise to a basis point (0.01 %) at most."))
    return int(basis_points)


def create_offer(
    name: str,
    network_name: str,
    url_template: str,
    *,
    cpc_cents: int | None = None,
    revshare_pct: str | Decimal | None = None,
) -> Offer:
    """An offer of ``network_name`` paying ``cpc_cents`` per billable click and/or ``revshare_pct``
    percent of the commission (at least one of them).

    Raises ValidationError (URL without {subid}, bad terms), NotFound (network) or Conflict (name).
    """
    name = name.strip()
    if not name or len(name) > 120:
        raise ValidationError(_("An offer needs a name (120 characters at most)."))
    check_url_template(url_template)
    network = get_network_by_name(network_name)
    if network is None:
        raise NotFound(_("No network named %(name)s.", name=network_name), code="unknown_network")
    if cpc_cents is not None and cpc_cents < 0:
        raise ValidationError(_("The CPC cannot be negative."))
    revshare_bps = parse_percent(revshare_pct) if revshare_pct is not None else None
    if cpc_cents is None and revshare_bps is None:
        raise ValidationError(_("An offer pays per click, by revenue share, or both: give one."))
    if db.session.scalar(select(Offer.id).where(Offer.name == name)) is not None:
        raise Conflict(_("An offer with this name already exists."), code="offer_exists")
    offer = Offer(
        name=name, network=network, url_template=url_template, cpc_cents=cpc_cents, revshare_bps=revshare_bps
    )
    db.session.add(offer)
    db.session.flush()
    return offer


def check_url_template(url_template: str) -> None:
    """An absolute http(s) URL holding the ``{subid}`` macro, 2048 characters at most.

    Raises ValidationError.
    """
    if len(url_template) > MAX_URL_LENGTH:
        raise ValidationError(
            _("The offer URL is longer than %(n)d characters.", n=MAX_URL_LENGTH), code="bad_url"
        )
    parts = urlsplit(url_template.replace(SUBID_MACRO, "x"))
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValidationError(_("The offer URL must be an absolute http(s) URL."), code="bad_url")
    if SUBID_MACRO not in url_template:
        raise ValidationError(_("The offer URL must hold the {subid} macro."), code="missing_subid")


def get_offer_by_name(name: str) -> Offer:
    """The offer named ``name``. Raises NotFound."""
    offer = db.session.scalar(select(Offer).where(Offer.name == name))
    if offer is None:
        raise NotFound(_("No offer named %(name)s.", name=name), code="unknown_offer")
    return offer


def euros_to_cents(raw: str) -> int:
    """``0.12`` -> 12, with the ledger's rounding. Raises ValidationError (not a finite amount)."""
    try:
        amount = Decimal(raw.strip())
    except InvalidOperation:
        raise ValidationError(_("Not an amount: %(raw)s", raw=raw)) from None
    if not amount.is_finite():
        raise ValidationError(_("Not an amount: %(raw)s", raw=raw))
    return to_cents(amount)
