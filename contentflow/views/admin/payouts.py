"""Admin: payouts to approve, pay or reject, and the approved ones as a payment file (CSV). The payout
services check every transition and write the audit record."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from flask import Response, abort, current_app, flash, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import StringField

from contentflow.auth import admin_required
from contentflow.errors import DomainError, ValidationError
from contentflow.extensions import db
from contentflow.htmx import is_partial_request, redirect_to, render_page_or_partial
from contentflow.models import Payout
from contentflow.plugin import NavItem
from contentflow.services import payout_details, payouts
from contentflow.views.admin import bp

NAV = (NavItem(_l("Payouts"), "admin.payouts", "admin", 40),)
STATUSES = ("requested", "approved", "paid", "rejected")
SEEN_CHANGES = re.compile(r"[0-9]{1,9}")


class ApproveForm(FlaskForm):
    """Read only: ``seen_changes`` is the payout's ``details_change_count`` the page showed."""

    seen_changes = StringField()

    def seen_change_count(self) -> int:
        """Raises ValidationError unless ``seen_changes`` is a small count (missing: none seen)."""
        raw = (self.seen_changes.data or "0").strip()
        if not SEEN_CHANGES.fullmatch(raw):
            raise ValidationError(_("Reload the page and approve again."), code="bad_seen_changes")
        return int(raw)


class PayForm(FlaskForm):
    """Read only: ``payouts.mark_paid`` validates the reference."""

    reference = StringField(_l("Transfer reference"))


class RejectForm(FlaskForm):
    """Read only: ``payouts.reject_payout`` validates the note."""

    note = StringField(_l("Why (the partner reads it)"))


def _status_arg() -> str:
    status = request.args.get("status", "requested")
    return status if status in STATUSES else "requested"


def _payouts_response(status_code: int = 200, *, payout: Payout | None = None, error: str = ""):
    """The payouts page; for htmx the row of ``payout`` (with ``error`` when the action on it failed),
    or the list when no payout was acted on (a GET)."""
    context = {
        "current_status": _status_arg(),
        "errors": {payout.id: error} if payout is not None and error else {},
        "status_labels": payouts.STATUS_LABELS,
    }
    if payout is not None and is_partial_request():
        context["row"] = (payout, payouts.partner_email(payout))
        return render_page_or_partial(
            "admin/payouts.html", "admin/_payout_row.html", status=status_code, **context
        )
    context.update(
        counts=payouts.count_by_status(),
        rows=payouts.list_with_emails(context["current_status"]),
        page_error=f"#{payout.id}: {error}" if payout is not None and error else "",
        methods=current_app.config["PAYOUT_METHODS"],
    )
    return render_page_or_partial(
        "admin/payouts.html", "admin/_payout_list.html", status=status_code, **context
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
    form = ApproveForm()
    return _payout_action(
        payout_id,
        lambda: payouts.approve_payout(payout_id, current_user, seen_change_count=form.seen_change_count()),
    )


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
    except payout_details.UnknownMethod:
        abort(404)
    db.session.commit()
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M")
    response = Response(content, mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="payouts-{method}-{stamp}.csv"'
    response.headers["Cache-Control"] = "no-store"  # account details: no cache may keep them
    response.headers["X-Payout-Count"] = str(len(included))
    return response
