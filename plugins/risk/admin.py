"""The operator pages at ``/ops`` (the seed's URLs), behind the admin login: held partners with lift and
extend, ``POST /ops/unhold``, the large payouts waiting for approval, and the audit log.

Every change is a POST with the CSRF token and a reason; the core holds and payouts services check it
and write the audit record (a GET changes nothing: ``/ops/unhold`` answers 405 to it).
"""

from __future__ import annotations

from flask import flash, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from contentflow.errors import DomainError, ValidationError
from contentflow.extensions import db
from contentflow.htmx import is_partial_request, redirect_to, render_page_or_partial
from contentflow.plugin import admin_blueprint
from contentflow.services import holds, payouts
from plugins.risk.forms import AuditFilterForm, ExtendForm, UnholdForm
from plugins.risk.services import audit_log, ops

bp = admin_blueprint("risk_ops", __name__, url_prefix="/ops")

RULE_LABELS = {
    "velocity": _l("click velocity"),
    "shared_ip": _l("one IP, many partners"),
    "fast_conversions": _l("sales too fast after the click"),
}


def _holds_page(status: int = 200, error: str = ""):
    return render_page_or_partial(
        "risk/holds.html",
        "risk/_holds.html",
        status,
        held=ops.list_held(),
        rule_labels=RULE_LABELS,
        error=error,
    )


@bp.get("/holds")
def holds_page():
    """Every active hold: the partner's e-mail, the rule, its figure, since and until, lift and extend."""
    return _holds_page()


def _after_hold_change(notice: str):
    db.session.commit()
    if is_partial_request():
        return _holds_page()
    flash(notice, "success")
    return redirect_to(url_for("risk_ops.holds_page"))


def _form_error(form) -> str:
    """The first message of an invalid form's fields."""
    return next(str(error) for errors in form.errors.values() for error in errors)


@bp.post("/unhold")
def unhold():
    """Lift one hold (``hold_id``) or every active hold of a partner (``partner_id`` or the seed's
    ``pid``), with a ``reason``. 303 to the holds page (htmx: the holds partial); 400 without a reason
    or a target, 404 for an unknown hold, 409 when there is nothing left to lift."""
    form = UnholdForm()
    try:
        if not form.validate():
            raise ValidationError(_form_error(form), code="invalid_unhold")
        partner_id = (form.partner_id.data or form.pid.data or "").strip()
        if not (form.hold_id.data is not None or partner_id):
            raise ValidationError(_("Name the hold or the partner to lift."), code="invalid_unhold")
        if form.hold_id.data is not None:
            holds.lift_hold(ops.get_hold(form.hold_id.data), current_user, note=form.reason.data or "")
            lifted = 1
        else:
            lifted = ops.lift_partner(partner_id, current_user, form.reason.data or "")
    except DomainError as error:
        db.session.rollback()
        return _holds_page(error.status, error.message)
    return _after_hold_change(_("%(count)d hold(s) lifted.", count=lifted))


@bp.post("/holds/<int:hold_id>/extend")
def extend(hold_id: int):
    """Extend a hold by ``days`` (1 to 3650), with a ``reason``. 303 to the holds page (htmx: the holds
    partial); 400 on bad days or no reason, 404 for an unknown hold, 409 when it is no longer active."""
    form = ExtendForm()
    try:
        hold = ops.get_hold(hold_id)
        if not form.validate():
            raise ValidationError(_form_error(form), code="invalid_extension")
        if not form.days.data:
            raise ValidationError(_("A hold is extended by 1 to 3650 days."), code="invalid_days")
        hold = holds.extend_hold(hold, current_user, form.days.data, form.reason.data or "")
    except DomainError as error:
        db.session.rollback()
        return _holds_page(error.status, error.message)
    return _after_hold_change(
        _("The hold now ends on %(day)s.", day=hold.expires_at.strftime("%Y-%m-%d %H:%M UTC"))
    )


@bp.get("/payouts/pending")
def pending_payouts():
    """Payouts at or above ``PAYOUT_APPROVAL_THRESHOLD_EUR`` waiting for approval, and the approved ones
    waiting to be marked paid, with the core admin payout actions."""
    return render_page_or_partial(
        "risk/pending_payouts.html",
        "risk/_pending_payouts.html",
        waiting=ops.pending_payouts(("requested",)),
        approved=ops.pending_payouts(("approved",)),
        threshold_cents=payouts.approval_threshold_cents(),
        status_labels=payouts.STATUS_LABELS,
        errors={},
    )


@bp.get("/audit")
def audit_page():
    """The core audit log, newest first, filtered by admin, action and partner (e-mail or id)."""
    form = AuditFilterForm(request.args)
    form.admin.choices = [("", _("Any admin"))] + [(str(a.id), a.email) for a in audit_log.known_admins()]
    form.action.choices = [("", _("Any action"))] + [(a, a) for a in audit_log.known_actions()]
    admin_id = form.admin.data if (form.admin.data or "").isdigit() else None
    filters = audit_log.AuditFilters(
        admin_id=int(admin_id) if admin_id else None,
        action=(form.action.data or "")[:64],
        partner=form.partner.data or "",
    )
    return render_page_or_partial(
        "risk/audit_log.html", "risk/_audit_log.html", form=form, entries=audit_log.list_entries(filters)
    )
