"""Admin pages for money: payouts to approve and pay (and their CSV), partner ledgers with adjustments
and holds. Routes sit on the admin blueprint; every POST carries the CSRF token and is audit-logged by
the service it calls."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from flask import Response, abort, current_app, flash, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import HiddenField, IntegerField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from contentflow.auth import admin_required
from contentflow.errors import DomainError
from contentflow.extensions import db
from contentflow.htmx import is_partial_request, redirect_to, render_page_or_partial
from contentflow.models import Hold, Partner, Payout
from contentflow.plugin import NavItem
from contentflow.services import balances, holds, ledger, payout_details, payouts
from contentflow.services.partners import get_partner
from contentflow.views.admin import bp

#: Core admin menu entries of this module (rendered with the plugins' entries).
NAV: tuple[NavItem, ...] = (
    NavItem(_l("Payouts"), "admin.payouts", "admin", 40),
    NavItem(_l("Partners"), "admin.partners", "admin", 45),
)
STATUSES = ("requested", "approved", "paid", "rejected")


class PayForm(FlaskForm):
    """Read only: ``payouts.mark_paid`` validates the reference."""

    reference = StringField(_l("Transfer reference"))


class RejectForm(FlaskForm):
    """Read only: ``payouts.reject_payout`` validates the note."""

    note = StringField(_l("Why (the partner reads it)"))


class AdjustmentForm(FlaskForm):
    amount = StringField(_l("Amount in euros (negative to take back)"), validators=[DataRequired()])
    reason = TextAreaField(_l("Reason"), validators=[DataRequired(), Length(max=500)])
    #: Made when the form is shown: submitting the same form twice adjusts once.
    request_key = HiddenField(default=lambda: uuid.uuid4().hex)


class HoldForm(FlaskForm):
    reason = StringField(_l("Reason"), validators=[DataRequired(), Length(max=64)], default="manual")
    detail = StringField(_l("Detail"), validators=[Optional(), Length(max=500)])
    days = IntegerField(_l("Days (empty: until lifted)"), validators=[Optional(), NumberRange(1, 3650)])


# --- payouts ---------------------------------------------------------------------------------------


def _status_arg() -> str:
    status = request.args.get("status", "requested")
    return status if status in STATUSES else "requested"


def _payout_rows(status: str) -> list[tuple[Payout, str]]:
    return list(
        db.session.execute(
            select(Payout, Partner.email)
            .join(Partner, Partner.id == Payout.partner_id)
            .where(Payout.status == status)
            .order_by(Payout.requested_at, Payout.id)
            .limit(200)
        ).all()
    )


def _payouts_response(status_code: int = 200, *, payout: Payout | None = None, error: str = ""):
    """The payouts page, or for htmx the row of ``payout`` (with ``error`` when the action failed)."""
    context = {
        "current_status": _status_arg(),
        "errors": {payout.id: error} if payout is not None and error else {},
        "status_labels": payouts.STATUS_LABELS,
    }
    if payout is not None:
        email = db.session.scalar(select(Partner.email).where(Partner.id == payout.partner_id))
        context["row"] = (payout, email)
    if not is_partial_request():
        context.update(
            counts=payouts.count_by_status(),
            rows=_payout_rows(context["current_status"]),
            page_error=f"#{payout.id}: {error}" if payout is not None and error else "",
            methods=current_app.config["PAYOUT_METHODS"],
        )
    return render_page_or_partial(
        "admin/payouts.html", "admin/_payout_row.html", status=status_code, **context
    )


@bp.get("/payouts", endpoint="payouts")
@admin_required
def payouts_page():
    return _payouts_response()


def _payout_action(payout_id: int, action):
    """Run ``action`` (a service call raising DomainError), commit, answer the row or redirect."""
    try:
        payout = action()
    except DomainError as error:
        db.session.rollback()
        return _payouts_response(error.status, payout=payouts.get_payout(payout_id), error=error.message)
    db.session.commit()
    if is_partial_request():
        return _payouts_response(payout=payout)
    flash(
        _("Payout #%(id)d is now %(status)s.", id=payout.id, status=payouts.STATUS_LABELS[payout.status]),
        "success",
    )
    return redirect_to(url_for("admin.payouts", status=_status_arg()))


@bp.post("/payouts/<int:payout_id>/approve")
@admin_required
def approve_payout(payout_id: int):
    return _payout_action(payout_id, lambda: payouts.approve_payout(payout_id, current_user))


@bp.post("/payouts/<int:payout_id>/pay")
@admin_required
def pay_payout(payout_id: int):
    form = PayForm()
    return _payout_action(
        payout_id, lambda: payouts.mark_paid(payout_id, current_user, form.reference.data or "")
    )


@bp.post("/payouts/<int:payout_id>/reject")
@admin_required
def reject_payout(payout_id: int):
    form = RejectForm()
    return _payout_action(
        payout_id, lambda: payouts.reject_payout(payout_id, current_user, form.note.data or "")
    )


@bp.get("/payouts.csv")
@admin_required
def payouts_csv():
    method = request.args.get("method", "")
    try:
        content, included = payout_details.approved_payouts_csv(method, current_user)
    except payouts.UnknownMethod:
        abort(404)
    db.session.commit()
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M")
    response = Response(content, mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="payouts-{method}-{stamp}.csv"'
    response.headers["Cache-Control"] = "no-store"  # account details: no cache may keep them
    response.headers["X-Payout-Count"] = str(len(included))
    return response


# --- partners and their ledger ---------------------------------------------------------------------


@bp.get("/partners")
@admin_required
def partners():
    query = request.args.get("q", "").strip()[:254]
    statement = select(Partner).order_by(Partner.created_at.desc(), Partner.id).limit(50)
    if query:
        statement = statement.where(Partner.email.contains(query.lower(), autoescape=True))
    found = list(db.session.scalars(statement))
    on_hold = set(
        db.session.scalars(
            select(Hold.partner_id).where(
                Hold.partner_id.in_([p.id for p in found]), *holds.active_clause(datetime.now(UTC))
            )
        )
    )
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
    partner = get_partner(partner_id)
    return render_page_or_partial(
        "admin/partner_ledger.html", "admin/_ledger.html", **_ledger_context(partner)
    )


ADJUSTMENT_FIELDS = {"invalid_amount": "amount", "reason_required": "reason", "reason_too_long": "reason"}


@bp.post("/partners/<partner_id>/adjustments")
@admin_required
def adjust_ledger(partner_id: str):
    partner = get_partner(partner_id)
    form = AdjustmentForm()
    if form.validate():
        try:
            amount = ledger.parse_euros(form.amount.data, allow_negative=True)
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
    partner = get_partner(partner_id)
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
    partner = get_partner(hold.partner_id)
    try:
        holds.lift_hold(hold, current_user)
    except DomainError as error:
        db.session.rollback()
        return _holds_response(partner, error.status, error=error.message)
    return _after_hold_change(partner, _("The hold is lifted."))
