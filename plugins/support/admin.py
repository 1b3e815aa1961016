"""The admins' support inbox at ``/admin/support``: tickets by status, a ticket's thread, reply (the
owner is e-mailed) and close. Behind the admin login; the tickets service writes the audit records."""

from __future__ import annotations

from flask import flash, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from contentflow.errors import DomainError
from contentflow.extensions import db
from contentflow.htmx import is_partial_request, redirect_to, render_page_or_partial
from contentflow.plugin import admin_blueprint
from contentflow.services import partners
from plugins.support.forms import AdminReplyForm
from plugins.support.models import SupportTicket
from plugins.support.services import ticket_lists, tickets

bp = admin_blueprint("support_admin", __name__, url_prefix="/admin/support")


def _status_arg() -> str:
    status = request.args.get("status", "")
    return status if status in tickets.STATUS_LABELS else ""


@bp.get("/")
def inbox():
    """The tickets not closed, or those in ``?status=``, the longest waiting first, with a count per
    status."""
    status = _status_arg()
    return render_page_or_partial(
        "support/admin_inbox.html",
        "support/_admin_inbox.html",
        tickets=ticket_lists.list_by_status(status or None),
        counts=ticket_lists.count_by_status(),
        labels=tickets.STATUS_LABELS,
        current_status=status,
    )


def _ticket_page(
    ticket: SupportTicket, status: int = 200, form: AdminReplyForm | None = None, error: str = ""
):
    return render_page_or_partial(
        "support/admin_ticket.html",
        "support/_admin_thread.html",
        status,
        ticket=ticket,
        partner=partners.get_partner(ticket.partner_id) if ticket.partner_id else None,
        messages=ticket_lists.messages_of(ticket),
        labels=tickets.STATUS_LABELS,
        form=form or AdminReplyForm(formdata=None),
        error=error,
    )


@bp.get("/<ticket_id>")
def ticket_page(ticket_id: str):
    """A ticket's thread with the reply and close forms. 404 for an unknown ticket."""
    return _ticket_page(tickets.get_ticket(ticket_id))


def _after(ticket: SupportTicket, notice: str):
    db.session.commit()
    if is_partial_request():
        return _ticket_page(ticket)
    flash(notice, "success")
    return redirect_to(url_for("support_admin.ticket_page", ticket_id=ticket.id))


@bp.post("/<ticket_id>/reply")
def reply(ticket_id: str):
    """An admin's answer (or question, ``ask_owner``), e-mailed to the owner. 400 on an empty reply, 409 when
    the ticket is closed."""
    ticket = tickets.get_ticket(ticket_id)
    form = AdminReplyForm()
    if not form.validate_on_submit():
        return _ticket_page(ticket, 400, form)
    try:
        tickets.reply_as_admin(ticket, current_user, form.body.data, ask_owner=form.ask_owner.data)
    except DomainError as error:
        db.session.rollback()
        return _ticket_page(tickets.get_ticket(ticket_id), error.status, form, error.message)
    return _after(ticket, _("The answer is sent to %(email)s.", email=ticket.email))


@bp.post("/<ticket_id>/close")
def close(ticket_id: str):
    """Close the ticket. 409 when it already is."""
    ticket = tickets.get_ticket(ticket_id)
    try:
        tickets.close_ticket(ticket, current_user)
    except DomainError as error:
        db.session.rollback()
        return _ticket_page(tickets.get_ticket(ticket_id), error.status, error=error.message)
    return _after(ticket, _("Ticket #%(id)s is closed.", id=ticket.id))
