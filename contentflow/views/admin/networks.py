"""Admin: affiliate networks: creation, secret rotation (the new secret is shown once), IP allowlist and
amount cap, on/off.

The page includes one partial (``admin/_networks.html``) that htmx POSTs get back, updated or with the
form's errors (4xx). A plain POST answers 303 to the page, except where a new secret is shown: that
answer is the page itself (no-store), so the secret never sits in a session cookie or a cache.
"""

from __future__ import annotations

from typing import Any

from flask import Response, current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from contentflow.auth import admin_required
from contentflow.errors import DomainError
from contentflow.extensions import db
from contentflow.htmx import render_page_or_partial
from contentflow.money import from_cents
from contentflow.plugin import NavItem
from contentflow.services import offers
from contentflow.views.admin import bp
from contentflow.views.admin.answers import done, first_error

NAV = (NavItem(_l("Networks"), "admin.networks", "admin", 10),)


class NetworkForm(FlaskForm):
    name = StringField(
        _l("Name (the network= of its postbacks)"), validators=[DataRequired(), Length(max=64)]
    )
    secret = StringField(
        _l("Secret (empty: one is made for you)"), validators=[Optional(), Length(min=16, max=200)]
    )


class NetworkSettingsForm(FlaskForm):
    allowed_ips = TextAreaField(_l("Allowed IPs or networks (empty: any)"), validators=[Length(max=2000)])
    max_amount_eur = StringField(_l("Largest amount per postback (EUR)"), validators=[DataRequired()])


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
        network = offers.create_network(form.name.data, secret, admin=current_user)
    except DomainError as error:
        db.session.rollback()
        (form.secret if error.code == "weak_secret" else form.name).errors.append(error.message)
        return _networks_page(error.status, form=form)
    db.session.commit()
    return _networks_page(revealed=(network.name, secret))


@bp.post("/networks/<int:network_id>/rotate")
@admin_required
def rotate_network_secret(network_id: int):
    network = offers.get_network(network_id)
    secret = offers.rotate_network_secret(network, admin=current_user)
    db.session.commit()
    return _networks_page(revealed=(network.name, secret))


@bp.post("/networks/<int:network_id>/settings")
@admin_required
def configure_network(network_id: int):
    network = offers.get_network(network_id)
    form = NetworkSettingsForm()
    error = None if form.validate_on_submit() else first_error(form)
    if error is None:
        try:
            offers.configure_network(
                network, form.allowed_ips.data or "", form.max_amount_eur.data, admin=current_user
            )
        except DomainError as failure:
            db.session.rollback()
            error = failure.message
    if error is not None:
        submitted = {network_id: {"allowed_ips": form.allowed_ips.data, "max": form.max_amount_eur.data}}
        return _networks_page(400, row_errors={network_id: error}, submitted=submitted)
    db.session.commit()
    return done("admin.networks", _("Network %(name)s saved.", name=network.name), _networks_page)


@bp.post("/networks/<int:network_id>/<any(activate, deactivate):action>")
@admin_required
def switch_network(network_id: int, action: str):
    network = offers.get_network(network_id)
    offers.set_network_active(network, action == "activate", admin=current_user)
    db.session.commit()
    notice = _("Network %(name)s is on.", name=network.name)
    if not network.is_active:
        notice = _("Network %(name)s is off: its postbacks are refused.", name=network.name)
    return done("admin.networks", notice, _networks_page)
