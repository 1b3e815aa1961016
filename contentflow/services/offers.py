"""Affiliate networks (secrets and their rotation, IP allowlist, amount cap) and their offers."""

from __future__ import annotations

import ipaddress
import secrets
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from urllib.parse import urlsplit

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import select

from contentflow.errors import Conflict, NotFound, ValidationError
from contentflow.extensions import db
from contentflow.models import AdminUser, Network, Offer
from contentflow.money import parse_euros
from contentflow.services import audit

SUBID_MACRO = "{subid}"
#: The length of ``Offer.url_template``.
MAX_URL_LENGTH = 2048


def create_network(
    name: str, secret: str, *, admin: AdminUser | None = None, actor: str | None = None
) -> Network:
    """A network whose postbacks authenticate with ``secret`` (stored encrypted). Audit-logged as
    ``admin`` or ``actor`` (``cli``).

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
    audit.record_change(
        "network.create",
        admin=admin,
        actor=actor,
        target_type="network",
        target_id=network.id,
        details={"name": name},
    )
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
    admin: AdminUser | None = None,
    actor: str | None = None,
) -> Offer:
    """An offer of ``network_name`` paying ``cpc_cents`` per billable click and/or ``revshare_pct``
    percent of the commission (at least one of them). Audit-logged as ``admin`` or ``actor``.

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
    terms = {"cpc_cents": cpc_cents, "revshare_bps": revshare_bps, "network": network.name}
    audit.record_change(
        "offer.create",
        admin=admin,
        actor=actor,
        target_type="offer",
        target_id=offer.id,
        details={"name": name, **terms},
    )
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


# --- networks: secrets, allowlist, cap, switch ----------------------------------------------------------

#: Largest ``allowed_ips`` text (the column's length).
MAX_ALLOWLIST_LENGTH = 1000


def new_network_secret() -> str:
    """A fresh postback secret (256 random bits, URL-safe so it fits a ``token=`` parameter)."""
    return secrets.token_urlsafe(32)


def get_network(network_id: int) -> Network:
    """The network with this id. Raises NotFound."""
    network = db.session.get(Network, network_id)
    if network is None:
        raise NotFound(_("No such network."), code="unknown_network")
    return network


def list_networks() -> list[Network]:
    """Every network, by name."""
    return list(db.session.scalars(select(Network).order_by(Network.name)))


def rotate_network_secret(
    network: Network, now: datetime | None = None, *, admin: AdminUser | None = None
) -> str:
    """Give ``network`` a new secret and return it (shown once, stored encrypted). The old one stays valid
    for ``NETWORK_SECRET_OVERLAP_HOURS`` so the network can switch without losing postbacks; a second
    rotation within that window drops the oldest secret. Audit-logged. Not idempotent: each call makes a
    new secret."""
    now = now or datetime.now(UTC)
    hours = current_app.config["NETWORK_SECRET_OVERLAP_HOURS"]
    secret = new_network_secret()
    network.previous_secret = network.secret
    network.previous_secret_expires_at = now + timedelta(hours=hours)
    network.secret = secret
    db.session.flush()
    audit.record_change(
        "network.rotate_secret",
        admin=admin,
        target_type="network",
        target_id=network.id,
        details={"previous_valid_until": network.previous_secret_expires_at.isoformat()},
    )
    return secret


def accepted_secrets(network: Network, now: datetime | None = None) -> list[str]:
    """The secrets a postback of ``network`` may use now: the current one, and the previous one until
    its overlap window ends."""
    now = now or datetime.now(UTC)
    accepted = [network.secret]
    expires_at = network.previous_secret_expires_at
    if network.previous_secret and expires_at is not None and now < expires_at:
        accepted.append(network.previous_secret)
    return accepted


def parse_allowlist(raw: str) -> str | None:
    """IPs or CIDR networks separated by commas, spaces or new lines -> the stored text (None when empty:
    any address). Raises ValidationError naming the first bad entry."""
    entries = raw.replace(",", " ").split()
    if not entries:
        return None
    normalized = []
    for entry in entries:
        try:
            normalized.append(str(ipaddress.ip_network(entry, strict=False)))
        except ValueError:
            raise ValidationError(
                _("Not an IP address or network: %(entry)s", entry=entry[:60]), code="bad_allowlist"
            ) from None
    text = ",".join(normalized)
    if len(text) > MAX_ALLOWLIST_LENGTH:
        raise ValidationError(
            _("The allowlist is longer than %(n)d characters.", n=MAX_ALLOWLIST_LENGTH), code="bad_allowlist"
        )
    return text


def is_ip_allowed(network: Network, ip: str) -> bool:
    """Whether a postback of ``network`` may come from ``ip`` (no allowlist: any address)."""
    if not network.allowed_ips:
        return True
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return False
    return any(address in ipaddress.ip_network(entry) for entry in network.allowed_ips.split(","))


def configure_network(
    network: Network, allowlist: str, max_amount_eur: str, *, admin: AdminUser | None = None
) -> Network:
    """Set the IP allowlist (empty: any address) and the largest commission one postback may report.
    Audit-logged.

    Raises ValidationError (bad address, cap not above 0)."""
    allowed_ips = parse_allowlist(allowlist)
    max_amount_cents = parse_euros(max_amount_eur, allow_zero=True)
    if max_amount_cents <= 0:
        raise ValidationError(_("The largest amount is an amount in euros above 0."), code="bad_cap")
    network.allowed_ips = allowed_ips
    network.max_amount_cents = max_amount_cents
    db.session.flush()
    details = {"allowed_ips": allowed_ips, "max_amount_cents": max_amount_cents}
    audit.record_change(
        "network.configure", admin=admin, target_type="network", target_id=network.id, details=details
    )
    return network


def set_network_active(network: Network, is_active: bool, *, admin: AdminUser | None = None) -> Network:
    """Switch a network on or off; an inactive network's postbacks are refused (403). Audit-logged.
    Idempotent."""
    network.is_active = is_active
    db.session.flush()
    action = "network.activate" if is_active else "network.deactivate"
    audit.record_change(action, admin=admin, target_type="network", target_id=network.id)
    return network


# --- offers ---------------------------------------------------------------------------------------------


def get_offer(offer_id: int) -> Offer:
    """The offer with this id. Raises NotFound."""
    offer = db.session.get(Offer, offer_id)
    if offer is None:
        raise NotFound(_("No such offer."), code="unknown_offer")
    return offer


def list_offers() -> list[Offer]:
    """Every offer with its network, active ones first, by name."""
    return list(db.session.scalars(select(Offer).order_by(Offer.is_active.desc(), Offer.name)))


def set_offer_active(offer: Offer, is_active: bool, *, admin: AdminUser | None = None) -> Offer:
    """Switch an offer on or off. Audit-logged. Idempotent."""
    offer.is_active = is_active
    db.session.flush()
    audit.record_change(
        "offer.activate" if is_active else "offer.deactivate",
        admin=admin,
        target_type="offer",
        target_id=offer.id,
    )
    return offer
