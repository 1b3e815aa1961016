"""Support pages of partners and visitors at ``/support/...``: a new ticket (signed in, or with an
e-mail), its thanks page, the partner's tickets, and a ticket's thread with replies (htmx).

A ticket is shown to its owner only (the signed-in partner, or the browser whose signed session holds
it); anyone else gets 404. New tickets are rate-limited per e-mail and per IP (``TICKET_LIMIT_*``).
"""

from __future__ import annotations

from flask import Blueprint, current_app, flash, request, session, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user

from contentflow.auth import partner_required
from contentflow.errors import DomainError
from contentflow.extensions import db, limiter
from contentflow.htmx import is_partial_request, redirect_to, render_page_or_partial
from contentflow.models import Partner
from plugins.support.forms import ReplyForm, TicketForm
from plugins.support.models import SupportTicket
from plugins.support.services import access, ticket_lists, tickets

bp = Blueprint("support", __name__, url_prefix="/support")

#: The session key listing the tickets this browser may read (a visitor's own, or opened by e-mail key).
SESSION_KEY = "support_tickets"
#: Which form field shows a service's ValidationError.
ERROR_FIELDS = {"invalid_subject": "subject", "invalid_body": "body", "invalid_email": "email"}


def _partner() -> Partner | None:
    user = current_user._get_current_object() if current_user.is_authenticated else None
    return user if isinstance(user, Partner) else None


def _visitor_ids() -> list[str]:
    ids = session.get(SESSION_KEY, [])
    return ids if isinstance(ids, list) else []


def _remember(ticket_id: str) -> None:
    session[SESSION_KEY] = access.remembered(_visitor_ids(), ticket_id)


def _own(ticket_id: str) -> SupportTicket:
    """The ticket if this browser's user owns it. Raises NotFound (404) otherwise."""
    partner = _partner()
    return tickets.get_own(ticket_id, partner_id=partner.id if partner else None, visitor_ids=_visitor_ids())


def _ticket_email_key() -> str:
    partner = _partner()
    email = partner.email if partner is not None else (request.form.get("email") or "").strip().lower()
    return "ticket-email:" + email[:254]


def _new_form(form: TicketForm, status: int = 200):
    return render_page_or_partial(
        "support/new.html", "support/_new_form.html", status, form=form, needs_email=_partner() is None
    )


@bp.route("/new", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["TICKET_LIMIT_PER_IP"], methods=["POST"])
@limiter.limit(
    lambda: current_app.config["TICKET_LIMIT_PER_EMAIL"], methods=["POST"], key_func=_ticket_email_key
)
def new_ticket():
    """The new-ticket form; a valid POST opens the ticket (the bot answers at once) and answers 303 to its
    thanks page (htmx: HX-Redirect). 400 with the form on bad input, 429 over the limits."""
    form = TicketForm()
    if not form.validate_on_submit():
        return _new_form(form, 400 if request.method == "POST" else 200)
    partner = _partner()
    if partner is None and not form.email.data:
        form.email.errors = [_("Give your e-mail: the answer is sent there.")]
        return _new_form(form, 400)
    try:
        ticket = tickets.open_ticket(
            form.subject.data,
            form.body.data,
            partner=partner,
            email=form.email.data,
            locale=str(get_locale() or "fr"),
        )
    except DomainError as error:
        db.session.rollback()
        getattr(form, ERROR_FIELDS.get(error.code, "body")).errors = [error.message]
        return _new_form(form, error.status)
    db.session.commit()
    _remember(ticket.id)
    return redirect_to(url_for("support.thanks", id=ticket.id))


@bp.get("/thanks")
def thanks():
    """The thanks page of a ticket just opened, with its thread. 404 to anyone but its owner."""
    ticket = _own(request.args.get("id", "")[:16])
    return render_page_or_partial(
        "support/thanks.html",
        "support/_thread.html",
        ticket=ticket,
        messages=ticket_lists.messages_of(ticket),
        labels=tickets.STATUS_LABELS,
        form=ReplyForm(formdata=None),
    )


@bp.get("/tickets")
@partner_required
def tickets_page():
    """The signed-in partner's tickets, latest activity first."""
    return render_page_or_partial(
        "support/tickets.html",
        "support/_tickets.html",
        tickets=ticket_lists.list_for_partner(current_user.id),
        labels=tickets.STATUS_LABELS,
    )


def _thread(ticket: SupportTicket, status: int = 200, form: ReplyForm | None = None, error: str = ""):
    return render_page_or_partial(
        "support/ticket.html",
        "support/_thread.html",
        status,
        ticket=ticket,
        messages=ticket_lists.messages_of(ticket),
        labels=tickets.STATUS_LABELS,
        form=form or ReplyForm(formdata=None),
        error=error,
    )


@bp.get("/tickets/<ticket_id>")
def ticket_page(ticket_id: str):
    """A ticket's thread, for its owner only (404 otherwise). With ``?key=`` (from an answer e-mail) it first
    remembers the ticket in this browser's session, then redirects to the bare address."""
    key = request.args.get("key")
    if key is not None:
        if access.ticket_of_key(key[:200]) == ticket_id:
            _remember(ticket_id)
        # The key has done its work: keep it out of the address bar, history and referrers.
        return redirect_to(url_for("support.ticket_page", ticket_id=ticket_id))
    return _thread(_own(ticket_id))


@bp.post("/tickets/<ticket_id>/reply")
def reply(ticket_id: str):
    """The owner's reply: the ticket goes back to the team. 303 to the thread (htmx: the thread partial); 400
    on an empty reply, 409 when the ticket is closed, 404 to anyone but its owner."""
    ticket = _own(ticket_id)
    form = ReplyForm()
    if not form.validate_on_submit():
        return _thread(ticket, 400, form)
    try:
        tickets.reply_as_owner(ticket, form.body.data)
    except DomainError as error:
        db.session.rollback()
        return _thread(tickets.get_ticket(ticket_id), error.status, form, error.message)
    db.session.commit()
    if is_partial_request():
        return _thread(ticket)
    flash(_("Your reply is sent."), "success")
    return redirect_to(url_for("support.ticket_page", ticket_id=ticket.id))
