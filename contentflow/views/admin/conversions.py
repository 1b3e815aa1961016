"""Admin: conversions a postback could not attribute or convert: resolve them (to a click, or to a
partner and an asset) or reject them."""

from __future__ import annotations

from typing import Any

from babel.numbers import format_currency
from flask import Response
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import Length, Optional

from contentflow.auth import admin_required
from contentflow.errors import DomainError
from contentflow.extensions import db
from contentflow.htmx import render_page_or_partial
from contentflow.plugin import NavItem
from contentflow.services import conversions
from contentflow.views.admin import bp
from contentflow.views.admin.answers import done, first_error

NAV = (NavItem(_l("To review"), "admin.conversions_review", "admin", 25),)


class ResolveForm(FlaskForm):
    click_id = StringField(_l("Click id"), validators=[Optional(), Length(max=16)])
    partner_id = StringField(_l("Partner id"), validators=[Optional(), Length(max=12)])
    asset_id = StringField(_l("Asset id"), validators=[Optional(), Length(max=12)])


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
            return _review_page(400, row_errors={conversion_id: first_error(form)})
        conversion = conversions.resolve(
            conversion_id,
            click_id=form.click_id.data or "",
            partner_id=form.partner_id.data or "",
            asset_id=form.asset_id.data or "",
            admin=current_user,
        )
    except DomainError as error:
        db.session.rollback()
        return _review_page(error.status, row_errors={conversion_id: error.message})
    db.session.commit()
    return done("admin.conversions_review", _("Conversion #%(id)d resolved.", id=conversion.id), _review_page)


@bp.post("/conversions/<int:conversion_id>/reject")
@admin_required
def reject_conversion(conversion_id: int):
    try:
        conversion = conversions.reject(conversion_id, admin=current_user)
    except DomainError as error:
        db.session.rollback()
        return _review_page(error.status, row_errors={conversion_id: error.message})
    db.session.commit()
    return done("admin.conversions_review", _("Conversion #%(id)d rejected.", id=conversion.id), _review_page)
