"""Admin: partners (search by e-mail) and each partner's ledger, with adjustments and holds. The ledger
and holds services check every change and write the audit record."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from flask import current_app, flash, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import HiddenField, IntegerField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from contentflow.auth import admin_required
from contentflow.errors import DomainError
from contentflow.extensions import db
from contentflow.htmx import is_partial_request, redirect_to, render_page_or_partial
from contentflow.models import Partner
from contentflow.money import parse_euros
from contentflow.plugin import NavItem
from contentflow.services import balances, holds, ledger, payout_details, payouts
from contentflow.services import partners as partner_service
from contentflow.views.admin import bp

NAV = (NavItem(_l("Partners"), "admin.partners", "admin", 45),)


class AdjustmentForm(FlaskForm):
    amount = StringField(_l("Amount in euros (negative to take back)"), validators=[DataRequired()])
    reason = TextAreaField(_l("Reason"), validators=[DataRequired(), Length(max=500)])
    #: Made when the form is shown: submitting the same form twice adjusts once.
    request_key = HiddenField(default=lambda: uuid.uuid4().hex)


class HoldForm(FlaskForm):
    reason = StringField(_l("Reason"), validators=[DataRequired(), Length(max=64)], default="manual")
    detail = StringField(_l("Detail"), validators=[Optional(), Length(max=500)])
    days = IntegerField(_l("Days (empty: until lifted)"), validators=[Optional(), NumberRange(1, 3650)])


@bp.get("/partners")
@admin_required
def partners():
    query = request.args.get("q", "").strip()[:254]
    found = partner_service.search(query)
    on_hold = holds.held_among([partner.id for partner in found])
    return render_page_or_partial(
        "admin/partners.html", "admin/_ledger_partners.html", partners=found, query=query, on_hold=on_hold
    )


def _ledger_context(partner: Partner, **forms) -> dict:
    return {
        "partner": partner,
        "balances": balances.get_balances(partner.id),
        "entries": ledger.list_entries(partner.id),
        "pending": balances.list_pending_conversions(partner.id),
        "payouts": payouts.list_payouts(partner_id=partner.id, limit=50),
        "holds": holds.list_holds(partner.id),
        "active_hold": holds.active_hold(partner.id),
        "adjust_form": forms.get("adjust_form") or AdjustmentForm(formdata=None),
        "hold_form": forms.get("hold_form") or HoldForm(formdata=None),
        "status_labels": payouts.STATUS_LABELS,
        "masked": {
            m: payout_details.masked_destination(partner, m) for m in current_app.config["PAYOUT_METHODS"]
        },
        "now": datetime.now(UTC),
    }


@bp.get("/partners/<partner_id>/ledger")
@admin_required
def partner_ledger(partner_id: str):
    partner = partner_service.get_partner(partner_id)
    return render_page_or_partial(
        "admin/partner_ledger.html", "admin/_ledger.html", **_ledger_context(partner)
    )


ADJUSTMENT_FIELDS = {"invalid_amount": "amount", "reason_required": "reason", "reason_too_long": "reason"}


@bp.post("/partners/<partner_id>/adjustments")
@admin_required
def adjust_ledger(partner_id: str):
    partner = partner_service.get_partner(partner_id)
    form = AdjustmentForm()
    if form.validate():
        try:
            amount = parse_euros(form.amount.data, allow_negative=True)
            ledger.adjust_balance(partner.id, amount, form.reason.data, current_user, form.request_key.data)
        except DomainError as error:
            getattr(form, ADJUSTMENT_FIELDS.get(error.code, "amount")).errors = [error.message]
        else:
            db.session.commit()
            if not is_partial_request():
                flash(_("The adjustment is recorded."), "success")
                return redirect_to(url_for("admin.partner_ledger", partner_id=partner.id))
            return render_page_or_partial(
                "admin/partner_ledger.html", "admin/_ledger.html", **_ledger_context(partner), adjusted=True
            )
    db.session.rollback()
    return render_page_or_partial(
        "admin/partner_ledger.html",
        "admin/_ledger.html",
        status=400,
        **_ledger_context(partner, adjust_form=form),
    )


def _holds_response(partner: Partner, status: int = 200, hold_form: HoldForm | None = None, error: str = ""):
    return render_page_or_partial(
        "admin/partner_ledger.html",
        "admin/_ledger_holds.html",
        status=status,
        hold_error=error,
        **_ledger_context(partner, hold_form=hold_form),
    )


def _after_hold_change(partner: Partner, message: str):
    db.session.commit()
    if is_partial_request():
        return _holds_response(partner)
    flash(message, "success")
    return redirect_to(url_for("admin.partner_ledger", partner_id=partner.id))


@bp.post("/partners/<partner_id>/holds")
@admin_required
def place_hold(partner_id: str):
    partner = partner_service.get_partner(partner_id)
    form = HoldForm()
    if not form.validate():
        return _holds_response(partner, 400, form)
    try:
        holds.place_hold(
            partner.id,
            form.reason.data,
            source="admin",
            days=form.days.data,
            detail=form.detail.data or "",
            admin=current_user,
        )
    except DomainError as error:
        db.session.rollback()
        return _holds_response(partner, error.status, form, error.message)
    return _after_hold_change(partner, _("The partner is on hold."))


@bp.post("/holds/<int:hold_id>/lift")
@admin_required
def lift_hold(hold_id: int):
    hold = holds.get_hold(hold_id)
    partner = partner_service.get_partner(hold.partner_id)
    try:
        holds.lift_hold(hold, current_user)
    except DomainError as error:
        db.session.rollback()
        return _holds_response(partner, error.status, error=error.message)
    return _after_hold_change(partner, _("The hold is lifted."))
