"""Tickets: opened by a partner or a visitor and answered at once by the FAQ bot; replies by the owner and
by admins (the owner is e-mailed through the core outbox); closing, by an admin or when idle.

Every status change is one conditional UPDATE (``... WHERE status IN (...)``), so two admins racing, or
an admin and the auto-close sweep, cannot both act on a ticket that moved meanwhile: the second gets a
409. Admin actions are audit-logged. Nothing here commits.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select, update

from contentflow.errors import Conflict, NotFound, ValidationError
from contentflow.extensions import db
from contentflow.models import AdminUser, Partner
from contentflow.models.base import utcnow
from contentflow.services import audit, mail, partners
from plugins.support.models import TICKET_STATUSES, SupportMessage, SupportTicket
from plugins.support.services import access, faq

STATUS_LABELS = {
    "open": _l("waiting for the team"),
    "bot_answered": _l("answered by the bot"),
    "awaiting_user": _l("waiting for your answer"),
    "answered": _l("answered"),
    "closed": _l("closed"),
}
#: Statuses in which the ticket waits for its owner: idle ones are closed by ``close_idle``.
WAITING_FOR_OWNER = ("bot_answered", "awaiting_user")
OPEN_STATUSES = tuple(status for status in TICKET_STATUSES if status != "closed")
MAX_SUBJECT = 200
MAX_BODY = 5000


class TicketClosed(Conflict):
    code = "ticket_closed"


def _clean(subject: str | None, body: str | None) -> tuple[str, str]:
    subject, body = (subject or "").strip(), (body or "").strip()
    if not subject or len(subject) > MAX_SUBJECT:
        raise ValidationError(_("Give a subject (200 characters at most)."), code="invalid_subject")
    return subject, _clean_body(body)


def _clean_body(body: str | None) -> str:
    body = (body or "").strip()
    if not body or len(body) > MAX_BODY:
        raise ValidationError(_("Write your message (5000 characters at most)."), code="invalid_body")
    return body


def _add_message(ticket: SupportTicket, author: str, body: str, now: datetime, admin=None) -> SupportMessage:
    message = SupportMessage(
        ticket_id=ticket.id,
        author=author,
        body=body,
        admin_user_id=admin.id if admin else None,
        created_at=now,
    )
    db.session.add(message)
    db.session.flush()
    return message


def open_ticket(
    subject: str,
    body: str,
    *,
    partner: Partner | None = None,
    email: str | None = None,
    locale: str = "fr",
    now: datetime | None = None,
) -> SupportTicket:
    """A new ticket by a signed-in ``partner`` or, with ``email``, a visitor, answered at once by the FAQ
    bot in the ticket's language (its own words, ``locale`` on a tie). Payout answers show the balances
    of a signed-in partner only. Raises ValidationError (subject, body or e-mail). Not idempotent."""
    now = now or utcnow()
    subject, body = _clean(subject, body)
    address = partner.email if partner is not None else partners.normalize_email(email or "")
    text = f"{subject}\n{body}"
    ticket = SupportTicket(
        partner_id=partner.id if partner is not None else None,
        email=address,
        subject=subject,
        topic=faq.detect_topic(text),
        locale=faq.detect_locale(text, locale),
        status="open",
        created_at=now,
        last_activity_at=now,
    )
    db.session.add(ticket)
    db.session.flush()
    _add_message(ticket, "partner", body, now)
    reply = faq.answer(ticket.topic, ticket.locale, ticket.partner_id, now=now)
    _add_message(ticket, "bot", reply, now)
    if ticket.topic != "other":
        ticket.status = "bot_answered"
        db.session.flush()
    return ticket


def get_ticket(ticket_id: str) -> SupportTicket:
    """Raises NotFound."""
    ticket = db.session.get(SupportTicket, ticket_id) if ticket_id else None
    if ticket is None:
        raise NotFound(_("No such ticket."), code="unknown_ticket")
    return ticket


def get_own(ticket_id: str, *, partner_id: str | None, visitor_ids: list[str]) -> SupportTicket:
    """The ticket if it belongs to the signed-in partner (``partner_id``) or was opened in this browser
    (its id is among ``visitor_ids``, kept in the signed session: the visitor who wrote it, or whoever
    opened the key of its answer e-mail). Raises NotFound for anyone else, so a ticket id tells nothing."""
    ticket = db.session.get(SupportTicket, ticket_id) if ticket_id else None
    is_partners = ticket is not None and partner_id is not None and ticket.partner_id == partner_id
    is_visitors = ticket is not None and ticket.id in visitor_ids
    if not (is_partners or is_visitors):
        raise NotFound(_("No such ticket."), code="unknown_ticket")
    return ticket


def _move(ticket: SupportTicket, from_statuses: tuple[str, ...], now: datetime, **values) -> None:
    """Change the ticket in one conditional UPDATE. Raises TicketClosed when it is no longer in
    ``from_statuses`` (closed meanwhile)."""
    moved = db.session.execute(
        update(SupportTicket)
        .where(SupportTicket.id == ticket.id, SupportTicket.status.in_(from_statuses))
        .values(last_activity_at=now, **values)
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.refresh(ticket)
    if not moved:
        raise TicketClosed(_("This ticket is closed: open a new one if you need more help."))


def reply_as_owner(ticket: SupportTicket, body: str, *, now: datetime | None = None) -> SupportMessage:
    """The owner writes again: the ticket goes back to the team (``open``). Raises ValidationError or
    TicketClosed. Not idempotent."""
    now = now or utcnow()
    body = _clean_body(body)
    _move(ticket, OPEN_STATUSES, now, status="open")
    return _add_message(ticket, "partner", body, now)


def reply_as_admin(
    ticket: SupportTicket,
    admin: AdminUser,
    body: str,
    *,
    ask_owner: bool = False,
    now: datetime | None = None,
) -> SupportMessage:
    """An admin answers (``answered``) or asks the owner something (``awaiting_user``, closed when idle);
    the owner is e-mailed the answer with a link to the thread. Audit-logged. Raises ValidationError or
    TicketClosed. Not idempotent."""
    now = now or utcnow()
    body = _clean_body(body)
    status = "awaiting_user" if ask_owner else "answered"
    _move(ticket, OPEN_STATUSES, now, status=status)
    message = _add_message(ticket, "admin", body, now, admin=admin)
    mail.queue_message(_answer_email(ticket, body))
    audit.record(
        "support.reply",
        admin=admin,
        target_type="support_ticket",
        target_id=ticket.id,
        details={"partner_id": ticket.partner_id, "status": status, "message_id": message.id},
    )
    return message


def _answer_email(ticket: SupportTicket, body: str) -> mail.Message:
    with force_locale(ticket.locale):
        url = access.thread_url(ticket)
        return mail.Message(
            to=ticket.email,
            subject=_("[Support #%(id)s] %(subject)s", id=ticket.id, subject=ticket.subject),
            text=_(
                "Hello,\n\nThe ContentFlow team answered your ticket:\n\n%(body)s\n\nRead the thread and "
                "reply: %(url)s",
                body=body,
                url=url,
            ),
            tag="support_answer",
        )


def close_ticket(ticket: SupportTicket, admin: AdminUser, *, now: datetime | None = None) -> SupportTicket:
    """An admin closes the ticket. Audit-logged. Raises TicketClosed when it already is."""
    now = now or utcnow()
    _move(ticket, OPEN_STATUSES, now, status="closed", closed_at=now)
    audit.record(
        "support.close",
        admin=admin,
        target_type="support_ticket",
        target_id=ticket.id,
        details={"partner_id": ticket.partner_id},
    )
    return ticket


def close_idle(*, now: datetime | None = None) -> int:
    """Close the tickets left ``TICKET_AUTO_CLOSE_DAYS`` or more in ``bot_answered`` or ``awaiting_user``
    without news, each with a bot message saying so. Returns how many. Idempotent: one UPDATE claims
    them; a ticket that moved meanwhile is not touched."""
    now = now or utcnow()
    days = current_app.config["TICKET_AUTO_CLOSE_DAYS"]
    closed = db.session.execute(
        update(SupportTicket)
        .where(
            SupportTicket.status.in_(WAITING_FOR_OWNER),
            SupportTicket.last_activity_at <= now - timedelta(days=days),
        )
        .values(status="closed", closed_at=now, last_activity_at=now)
        .returning(SupportTicket.id, SupportTicket.locale)
        .execution_options(synchronize_session=False)
    ).all()
    for ticket_id, locale in closed:
        with force_locale(locale):
            body = _(
                "Closed after %(days)d days without news. Open a new ticket if you still need help.",
                days=days,
            )
        db.session.add(SupportMessage(ticket_id=ticket_id, author="bot", body=body, created_at=now))
    db.session.flush()
    return len(closed)


def messages_of(ticket: SupportTicket) -> list[SupportMessage]:
    """The ticket's messages, oldest first."""
    return list(
        db.session.scalars(
            select(SupportMessage)
            .where(SupportMessage.ticket_id == ticket.id)
            .order_by(SupportMessage.created_at, SupportMessage.id)
        )
    )


def list_for_partner(partner_id: str, limit: int = 100) -> list[SupportTicket]:
    """The partner's tickets, latest activity first."""
    return list(
        db.session.scalars(
            select(SupportTicket)
            .where(SupportTicket.partner_id == partner_id)
            .order_by(SupportTicket.last_activity_at.desc(), SupportTicket.id)
            .limit(limit)
        )
    )


def list_by_status(status: str | None = None, limit: int = 200) -> list[SupportTicket]:
    """The inbox: tickets in ``status`` (every one but closed when None), oldest activity first (the
    longest waiting on top)."""
    statement = select(SupportTicket).order_by(SupportTicket.last_activity_at, SupportTicket.id).limit(limit)
    if status is None:
        statement = statement.where(SupportTicket.status.in_(OPEN_STATUSES))
    else:
        statement = statement.where(SupportTicket.status == status)
    return list(db.session.scalars(statement))


def count_by_status() -> dict[str, int]:
    """How many tickets are in each status (every status present, zero included)."""
    counts = dict(
        db.session.execute(select(SupportTicket.status, func.count()).group_by(SupportTicket.status)).all()
    )
    return {status: int(counts.get(status, 0)) for status in TICKET_STATUSES}
