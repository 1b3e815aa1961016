"""Admin: affiliate offers: creation (CPC and/or revenue share, URL with ``{subid}``), on/off."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from flask import Response
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional

from contentflow.auth import admin_required
from contentflow.errors import DomainError
from contentflow.extensions import db
from contentflow.htmx import render_page_or_partial
from contentflow.money import parse_euros
from contentflow.plugin import NavItem
from contentflow.services import offers
from contentflow.views.admin import bp
from contentflow.views.admin.answers import done

NAV = (NavItem(_l("Offers"), "admin.offers", "admin", 15),)


class OfferForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=120)])
    network = SelectField(_l("Network"), choices=[], validate_choice=False, validators=[DataRequired()])
    url_template = StringField(_l("URL with {subid}"), validators=[DataRequired(), Length(max=2048)])
    cpc_eur = StringField(_l("CPC (EUR, empty: none)"), validators=[Optional(), Length(max=20)])
    revshare_pct = StringField(_l("Revenue share (%, empty: none)"), validators=[Optional(), Length(max=10)])


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
        cpc_cents = parse_euros(form.cpc_eur.data, allow_zero=True) if form.cpc_eur.data else None
        offer = offers.create_offer(
            form.name.data,
            form.network.data,
            form.url_template.data.strip(),
            cpc_cents=cpc_cents,
            revshare_pct=form.revshare_pct.data or None,
            admin=current_user,
        )
    except DomainError as error:
        db.session.rollback()
        return _offers_page(error.status, form=form, error=error.message)
    db.session.commit()
    return done("admin.offers", _("Offer %(name)s created.", name=offer.name), _offers_page)


@bp.post("/offers/<int:offer_id>/<any(activate, deactivate):action>")
@admin_required
def switch_offer(offer_id: int, action: str):
    offer = offers.set_offer_active(offers.get_offer(offer_id), action == "activate", admin=current_user)
    db.session.commit()
    notice = _("Offer %(name)s is on.", name=offer.name)
    if not offer.is_active:
        notice = _("Offer %(name)s is off.", name=offer.name)
    return done("admin.offers", notice, _offers_page)
