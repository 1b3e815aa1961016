"""The admin area: one blueprint, a module per subject (sign-in and home, assets, networks, offers, FX
rates, conversions to review, the postback log, payouts, partners and their ledger), each with its forms.

Every route is behind the admin login but the sign-in itself; every POST carries the CSRF token, and the
service it calls writes the audit record. Plugins add pages to the admin area with
``contentflow.plugin.admin_blueprint``.
"""

from flask import Blueprint

from contentflow.auth import mark_admin_area

bp = mark_admin_area(Blueprint("admin", __name__, url_prefix="/admin"))

# Each module registers its routes on ``bp`` when imported.
from contentflow.views.admin import (  # noqa: E402
    assets,
    conversions,
    fx_rates,
    networks,
    offers,
    partners,
    payouts,
    postback_log,
    session,
)

#: The core's admin menu entries (rendered with the plugins' entries), in order.
NAV = (
    *assets.NAV,
    *networks.NAV,
    *offers.NAV,
    *fx_rates.NAV,
    *conversions.NAV,
    *postback_log.NAV,
    *payouts.NAV,
    *partners.NAV,
)

__all__ = ["NAV", "bp", "session"]
