"""Admin: exchange rates to EUR, which postbacks in other currencies are converted at."""

from __future__ import annotations

from typing import Any

from flask import Response
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import DataRequired, Length

from contentflow.auth import admin_required
from contentflow.errors import DomainError
from contentflow.extensions import db
from contentflow.htmx import render_page_or_partial
from contentflow.plugin import NavItem
from contentflow.services import fx
from contentflow.views.admin import bp
from contentflow.views.admin.answers import done

NAV = (NavItem(_l("FX rates"), "admin.fx_rates", "admin", 20),)


class FxRateForm(FlaskForm):
    currency = StringField(_l("Currency (ISO code)"), validators=[DataRequired(), Length(min=3, max=3)])
    rate = StringField(_l("EUR for one unit"), validators=[DataRequired(), Length(max=40)])


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
    db.session.commit()
    notice = _("1 %(currency)s = %(rate)s EUR.", currency=rate.currency, rate=rate.eur_per_unit)
    return done("admin.fx_rates", notice, _fx_page)
