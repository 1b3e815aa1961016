"""The partner portal (core): greeting, language choice, and the entries of the enabled plugins."""

from __future__ import annotations

from flask import Blueprint, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import func, select

from contentflow.auth import partner_required
from contentflow.errors import ValidationError
from contentflow.extensions import db
from contentflow.forms import LocaleForm
from contentflow.htmx import redirect_to
from contentflow.models import ShortLink
from contentflow.services import partners

bp = Blueprint("partner", __name__, url_prefix="/partner")


@bp.get("/portal")
@partner_required
def portal():
    link_count = db.session.scalar(
        select(func.count()).select_from(ShortLink).where(ShortLink.partner_id == current_user.id)
    )
    return render_template(
        "partner/portal.html", locale_form=LocaleForm(locale=current_user.locale), link_count=link_count
    )


@bp.post("/locale")
@partner_required
def set_locale():
    form = LocaleForm()
    if not form.validate_on_submit():
        raise ValidationError(_("This language is not available."), code="invalid_locale")
    partners.set_locale(current_user, form.locale.data)
    db.session.commit()
    return redirect_to(url_for("partner.portal"))
