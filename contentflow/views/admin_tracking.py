"""Admin pages for tracking: networks (secret rotation), offers, FX rates, conversions needing review,
the postback log. Routes sit on the admin blueprint; every POST carries the CSRF token and is audited.

Each page includes one partial (``admin/_<page>.html``) that htmx POSTs get back, updated or with the
form's errors (4xx). A plain POST answers 303 to the page, except where a new network secret is shown:
that answer is the page itself (no-store), so the secret never sits in a session cookie or a cache.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from babel.numbers import format_currency
from flask import Response, current_app, flash, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from wtforms.fields.choices import SelectChoice

from contentflow.auth import admin_required
from contentflow.errors import DomainError
from contentflow.extensions import db
from contentflow.forms_admin_tracking import (
    FxRateForm,
    NetworkForm,
    NetworkSettingsForm,
    OfferForm,
    PostbackLogFilter,
    ResolveForm,
)
from contentflow.htmx import is_partial_request, redirect_to, render_page_or_partial
from contentflow.money import from_cents
from contentflow.plugin import NavItem
from contentflow.services import audit, conversions, fx, offers, postbacks
from contentflow.views.admin import bp

#: Core admin menu entries of this module (rendered with the plugins' entries).
NAV: tuple[NavItem, ...] = (
    NavItem(_l("Networks"), "admin.networks", "admin", 10),
    NavItem(_l("Offers"), "admin.offers", "admin", 15),
    NavItem(_l("FX rates"), "admin.fx_rates", "admin", 20),
    NavItem(_l("To review"), "admin.conversions_review", "admin", 25),
    NavItem(_l("Postback log"), "admin.postback_log", "admin", 30),
)
POSTBACK_LOG_LENGTH = 200


def _audit(action: str, target_type: str, target_id: str | int, **details: Any) -> None:
    audit.record(action, admin=current_user, target_type=target_type, target_id=target_id, details=details)


def _done(endpoint: str, notice: str, render: Callable[..., Response]) -> Response:
    """After a successful POST: the refreshed partial for htmx, else 303 to the page (post/redirect/get)."""
    if is_partial_request():
        return render(notice=notice)
    flash(notice, "success")
    return redirect_to(url_for(endpoint))


def _first_error(form) -> str:
    return next((error for errors in form.errors.values() for error in errors), _("Check the form."))


# --- networks --------------------------------------------------------------------------------------------


def _networks_page(status: int = 200, **context: Any) -> Response:
    context.setdefault("form", NetworkForm(formdata=None))
    context.setdefault("row_errors", {})
    context.setdefault("submitted", {})
    response = render_page_or_partial(
        "admin/networks.html",
        "admin/_networks.html",
        status,
        networks=offers.list_networks(),
        overlap_hours=current_app.config["NETWORK_SECRET_OVERLAP_HOURS"],
        euros=from_cents,
        **context,
    )
    if context.get("revealed"):
        response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/networks")
@admin_required
def networks():
    return _networks_page()


@bp.post("/networks")
@admin_required
def create_network():
    form = NetworkForm()
    if not form.validate_on_submit():
        return _networks_page(400, form=form)
    secret = form.secret.data or offers.new_network_secret()
    try:
        network = offers.create_network(form.name.data, secret)
    except DomainError as error:
        db.session.rollback()
        (form.secret if error.code == "weak_secret" else form.name).errors.append(error.message)
        return _networks_page(error.status, form=form)
    _audit("network.create", "network", network.id, name=network.name)
    db.session.commit()
    return _networks_page(revealed=(network.name, secret))


@bp.post("/networks/<int:network_id>/rotate")
@admin_required
def rotate_network_secret(network_id: int):
    network = offers.get_network(network_id)
    secret = offers.rotate_network_secret(network)
    expires_at = network.previous_secret_expires_at.isoformat()
    _audit("network.rotate_secret", "network", network.id, previous_valid_until=expires_at)
    db.session.commit()
    return _networks_page(revealed=(network.name, secret))


@bp.post("/networks/<int:network_id>/settings")
@admin_required
def configure_network(network_id: int):
    network = offers.get_network(network_id)
    form = NetworkSettingsForm()
    error = None if form.validate_on_submit() else _first_error(form)
    if error is None:
        try:
            offers.configure_network(network, form.allowed_ips.data or "", form.max_amount_eur.data)
        except DomainError as failure:
            db.session.rollback()
            error = failure.message
    if error is not None:
        submitted = {network_id: {"allowed_ips": form.allowed_ips.data, "max": form.max_amount_eur.data}}
        return _networks_page(400, row_errors={network_id: error}, submitted=submitted)
    details = {"allowed_ips": network.allowed_ips, "max_amount_cents": network.max_amount_cents}
    _audit("network.configure", "network", network.id, **details)
    db.session.commit()
    return _done("admin.networks", _("Network %(name)s saved.", name=network.name), _networks_page)


@bp.post("/networks/<int:network_id>/<any(activate, deactivate):action>")
@admin_required
def switch_network(network_id: int, action: str):
    network = offers.set_network_active(offers.get_network(network_id), action == "activate")
    _audit(f"network.{action}", "network", network.id)
    db.session.commit()
    notice = _("Network %(name)s is on.", name=network.name)
    if not network.is_active:
        notice = _("Network %(name)s is off: its postbacks are refused.", name=network.name)
    return _done("admin.networks", notice, _networks_page)


# --- offers ----------------------------------------------------------------------------------------------


def percent_text(basis_points: int | None) -> str:
    """4000 -> ``40``, 1250 -> ``12.5`` (the UI shows percents; the database keeps basis points)."""
    if basis_points is None:
        return ""
    return f"{Decimal(basis_points).scaleb(-2):f}".rstrip("0").rstrip(".")


def _offer_form(*, is_blank: bool = False) -> OfferForm:
    """The offer form with the networks to choose from; blank, or filled from the POST."""
    form = OfferForm(formdata=None) if is_blank else OfferForm()
    form.network.choices = [SelectChoice(network.name, network.name) for network in offers.list_networks()]
    return form


def _offers_page(status: int = 200, **context: Any) -> Response:
    context.setdefault("form", _offer_form(is_blank=True))
    return render_page_or_partial(
        "admin/offers.html",
        "admin/_offers.html",
        status,
        offers=offers.list_offers(),
        percent=percent_text,
        **context,
    )


@bp.get("/offers", endpoint="offers")
@admin_required
def offers_page():
    return _offers_page()


@bp.post("/offers")
@admin_required
def create_offer():
    form = _offer_form()
    if not form.validate_on_submit():
        return _offers_page(400, form=form)
    try:
        cpc_cents = offers.euros_to_cents(form.cpc_eur.data) if form.cpc_eur.data else None
        offer = offers.create_offer(
            form.name.data,
            form.network.data,
            form.url_template.data.strip(),
            cpc_cents=cpc_cents,
            revshare_pct=form.revshare_pct.data or None,
        )
    except DomainError as error:
        db.session.rollback()
        return _offers_page(error.status, form=form, error=error.message)
    terms = {"cpc_cents": offer.cpc_cents, "revshare_bps": offer.revshare_bps, "network": offer.network.name}
    _audit("offer.create", "offer", offer.id, name=offer.name, **terms)
    db.session.commit()
    return _done("admin.offers", _("Offer %(name)s created.", name=offer.name), _offers_page)


@bp.post("/offers/<int:offer_id>/<any(activate, deactivate):action>")
@admin_required
def switch_offer(offer_id: int, action: str):
    offer = offers.set_offer_active(offers.get_offer(offer_id), action == "activate")
    _audit(f"offer.{action}", "offer", offer.id)
    db.session.commit()
    notice = _("Offer %(name)s is on.", name=offer.name)
    if not offer.is_active:
        notice = _("Offer %(name)s is off.", name=offer.name)
    return _done("admin.offers", notice, _offers_page)


# --- FX rates --------------------------------------------------------------------------------------------


def _fx_page(status: int = 200, **context: Any) -> Response:
    context.setdefault("form", FxRateForm(formdata=None))
    return render_page_or_partial(
        "admin/fx_rates.html", "admin/_fx_rates.html", status, rates=fx.list_rates(), **context
    )


@bp.get("/fx-rates")
@admin_required
def fx_rates():
    return _fx_page()


@bp.post("/fx-rates")
@admin_required
def set_fx_rate():
    form = FxRateForm()
    if not form.validate_on_submit():
        return _fx_page(400, form=form)
    try:
        rate = fx.set_rate(form.currency.data, form.rate.data, admin=current_user)
    except DomainError as error:
        db.session.rollback()
        (form.currency if error.code == "bad_currency" else form.rate).errors.append(error.message)
        return _fx_page(error.status, form=form)
    _audit("fx_rate.set", "fx_rate", rate.currency, eur_per_unit=rate.eur_per_unit)
    db.session.commit()
    notice = _("1 %(currency)s = %(rate)s EUR.", currency=rate.currency, rate=rate.eur_per_unit)
    return _done("admin.fx_rates", notice, _fx_page)


# --- conversions needing review --------------------------------------------------------------------------


def amount_text(conversion) -> str:
    """The commission as the network sent it, in its currency."""
    amount = conversions.amount_in_currency(conversion)
    return format_currency(amount, conversion.currency, locale=str(get_locale() or "en"))


def _review_page(status: int = 200, **context: Any) -> Response:
    context.setdefault("row_errors", {})
    return render_page_or_partial(
        "admin/conversions_review.html",
        "admin/_conversions_review.html",
        status,
        rows=conversions.list_needing_review(),
        amount_text=amount_text,
        **context,
    )


@bp.get("/conversions/review")
@admin_required
def conversions_review():
    return _review_page()


@bp.post("/conversions/<int:conversion_id>/resolve")
@admin_required
def resolve_conversion(conversion_id: int):
    form = ResolveForm()
    try:
        if not form.validate_on_submit():
            return _review_page(400, row_errors={conversion_id: _first_error(form)})
        conversion = conversions.resolve(
            conversion_id,
            click_id=form.click_id.data or "",
            partner_id=form.partner_id.data or "",
            asset_id=form.asset_id.data or "",
        )
    except DomainError as error:
        db.session.rollback()
        return _review_page(error.status, row_errors={conversion_id: error.message})
    details = {"partner_id": conversion.partner_id, "amount_eur_cents": conversion.amount_eur_cents}
    _audit("conversion.resolve", "conversion", conversion.id, status=conversion.status, **details)
    db.session.commit()
    return _done(
        "admin.conversions_review", _("Conversion #%(id)d resolved.", id=conversion.id), _review_page
    )


@bp.post("/conversions/<int:conversion_id>/reject")
@admin_required
def reject_conversion(conversion_id: int):
    try:
        conversion = conversions.reject(conversion_id)
    except DomainError as error:
        db.session.rollback()
        return _review_page(error.status, row_errors={conversion_id: error.message})
    _audit("conversion.reject", "conversion", conversion.id, txn_id=conversion.txn_id)
    db.session.commit()
    return _done(
        "admin.conversions_review", _("Conversion #%(id)d rejected.", id=conversion.id), _review_page
    )


# --- postback log ----------------------------------------------------------------------------------------


@bp.get("/postbacks")
@admin_required
def postback_log():
    form = PostbackLogFilter(formdata=request.args)
    outcome = form.outcome.data if form.validate() else ""
    return render_page_or_partial(
        "admin/postback_log.html",
        "admin/_postback_log.html",
        400 if form.errors else 200,
        form=form,
        lines=postbacks.recent_log(outcome or None, POSTBACK_LOG_LENGTH),
        limit=POSTBACK_LOG_LENGTH,
    )
