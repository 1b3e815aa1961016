"""The admin's publishing pages at ``/admin/publish``: the queue by status with errors, retry and cancel,
and assigning an asset to one partner or to every partner with an account on a platform."""

from __future__ import annotations

from flask import flash, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional

from contentflow.errors import DomainError, ValidationError
from contentflow.extensions import db
from contentflow.htmx import is_partial_request, redirect_to, render_page_or_partial
from contentflow.platforms import PLATFORMS
from contentflow.plugin import admin_blueprint
from contentflow.services import partners
from plugins.publish.services import queue

bp = admin_blueprint("publish_admin", __name__, url_prefix="/admin/publish")


class AssignForm(FlaskForm):
    """An asset to assign on a platform, to one partner or to every partner with an account there."""

    asset_id = StringField(_l("Asset id"), validators=[DataRequired(), Length(max=12)])
    platform = SelectField(_l("Platform"), choices=[SelectChoice(p, p.capitalize()) for p in PLATFORMS])
    email = StringField(
        _l("Partner e-mail (empty: every partner with an account there)"),
        validators=[Optional(), Length(max=254)],
    )


def _status_arg() -> str:
    status = request.args.get("status", "")
    return status if status in queue.STATUS_LABELS else ""


def _queue_page(status_code: int = 200, *, form: AssignForm | None = None, notice: str = "", error: str = ""):
    status = _status_arg()
    counts = queue.count_by_status()
    is_moving = any(counts[moving] for moving in queue.MOVING_STATUSES)
    response = render_page_or_partial(
        "publish/admin_queue.html",
        "publish/_admin_queue.html",
        status_code,
        rows=queue.list_by_status(status or None),
        counts=counts,
        labels=queue.STATUS_LABELS,
        current_status=status,
        form=form or AssignForm(formdata=None),
        notice=notice,
        error=error,
        is_moving=is_moving,
    )
    if is_partial_request() and request.headers.get("HX-Trigger") == "publish-admin-rows" and not is_moving:
        response.status_code = 286  # htmx stops polling: nothing is on its way any more
    return response


@bp.get("/")
def home():
    """The admin queue, filtered by status; the partial polls itself while any assignment moves."""
    return _queue_page()


def _after(notice: str):
    db.session.commit()
    if is_partial_request():
        return _queue_page(notice=notice)
    flash(notice, "success")
    return redirect_to(url_for("publish_admin.home", status=_status_arg() or None))


@bp.post("/assign")
def assign():
    """Assign an asset to one partner (by e-mail) or to all; says how many were made and skipped."""
    form = AssignForm()
    if not form.validate_on_submit():
        return _queue_page(400, form=form)
    try:
        if form.email.data:
            partner = partners.find_partner_by_email(partners.normalize_email(form.email.data))
            if partner is None:
                raise ValidationError(_("No partner with this e-mail."), code="unknown_partner")
            outcomes = [
                queue.create(partner.id, form.asset_id.data.strip(), form.platform.data, admin=current_user)
            ]
        else:
            outcomes = queue.create_for_all(
                form.asset_id.data.strip(), form.platform.data, admin=current_user
            )
    except DomainError as error:
        db.session.rollback()
        return _queue_page(error.status, form=form, error=error.message)
    made = sum(outcome.is_created for outcome in outcomes)
    skipped = len(outcomes) - made
    return _after(_("%(made)d assignment(s) made, %(skipped)d skipped.", made=made, skipped=skipped))


@bp.post("/<int:assignment_id>/retry")
def retry(assignment_id: int):
    """Send a failed or unchecked assignment back to the queue (409 from another status)."""
    try:
        queue.retry(assignment_id, current_user)
    except DomainError as error:
        db.session.rollback()
        return _queue_page(error.status, error=error.message)
    return _after(_("Assignment #%(id)d is back in the queue.", id=assignment_id))


@bp.post("/<int:assignment_id>/cancel")
def cancel(assignment_id: int):
    """Cancel an assignment not posted nor being posted (409 otherwise)."""
    try:
        queue.cancel(assignment_id, current_user)
    except DomainError as error:
        db.session.rollback()
        return _queue_page(error.status, error=error.message)
    return _after(_("Assignment #%(id)d is cancelled.", id=assignment_id))
