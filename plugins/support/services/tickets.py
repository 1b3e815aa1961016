"""Tickets: opened by a partner or a visitor and answered at once by the FAQ bot; replies by the owner and
by admins (the owner is e-mailed through the core outbox); closing, by an admin or when idle.

Every status change is one conditional UPDATE (``... WHERE status IN (...)``), so two admins racing, or
an admin and the auto-close sweep, cannot both act on a ticket that moved meanwhile: the second gets a
409. Admin actions are audit-logged. Nothing here commits.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select, update

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
#: What a ticket id looks like (``new_short_id``): anything else names no ticket, and is never sent to
#: the database (PostgreSQL refuses a NUL byte in a string: it would be a 500, not a 404).
TICKET_ID = re.compile(r"[0-9a-z]{1,16}")
#: Control characters no one types in a message (tab and line breaks are fine); PostgreSQL refuses NUL.
CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class TicketClosed(Conflict):
    """The ticket was closed (by an admin or the idle sweep) before this change: 409."""

    code = "ticket_closed"


def _refuse_control_characters(text: str, code: str) -> None:
    if CONTROL_CHARACTERS.search(text):
        raise ValidationError(_("Remove the control characters from your text."), code=code)


def _clean(subject: str | None, body: str | None) -> tuple[str, str]:
    subject = (subject or "").strip()
    if not subject or len(subject) > MAX_SUBJECT:
        raise ValidationError(_("Give a subject (200 characters at most)."), code="invalid_subject")
    _refuse_control_characters(subject, "invalid_subject")
    return subject, _clean_body(body)


def _clean_body(body: str | None) -> str:
    body = (body or "").strip()
    if not body or len(body) > MAX_BODY:
        raise ValidationError(_("Write your message (5000 characters at most)."), code="invalid_body")
    _refuse_control_characters(body, "invalid_body")
    return body


def _find(ticket_id: str | None) -> SupportTicket | None:
    is_id = isinstance(ticket_id, str) and TICKET_ID.fullmatch(ticket_id) is not None
    return db.session.get(SupportTicket, ticket_id) if is_id else None


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
    """The ticket ``ticket_id``. Raises NotFound (also for a string that cannot be a ticket id)."""
    ticket = _find(ticket_id)
    if ticket is None:
        raise NotFound(_("No such ticket."), code="unknown_ticket")
    return ticket


def get_own(ticket_id: str, *, partner_id: str | None, visitor_ids: list[str]) -> SupportTicket:
    """The ticket if it belongs to the signed-in partner (``partner_id``) or was opened in this browser
    (its id is among ``visitor_ids``, kept in the signed session: the visitor who wrote it, or whoever
    opened the key of its answer e-mail). Raises NotFound for anyone else, so a ticket id tells nothing."""
    ticket = _find(ticket_id)
    is_partners = ticket is not None and partner_id is not None and ticket.partner_id == partner_id
    is_visitors = ticket is not None and ticket.id in visitor_ids
    if not (is_partners or is_visitors):
        raise NotFound(_("No such ticket."), code="unknown_ticket")
    return ticket


def _move(ticket: SupportTicket, from_statuses: tuple[str, ...], now: datetime, **values) -> str:
    """Change the ticket in one conditional UPDATE, after locking its row (so the status it had before
    is the one the UPDATE changed). Returns that status. Raises TicketClosed when it is no longer in
    ``from_statuses`` (closed meanwhile)."""
    before = db.session.scalar(
        select(SupportTicket.status).where(SupportTicket.id == ticket.id).with_for_update()
    )
    moved = db.session.execute(
        update(SupportTicket)
        .where(SupportTicket.id == ticket.id, SupportTicket.status.in_(from_statuses))
        .values(last_activity_at=now, **values)
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.refresh(ticket)
    if not moved:
        raise TicketClosed(_("This ticket is closed: open a new one if you need more help."))
    return before


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
    before = _move(ticket, OPEN_STATUSES, now, status=status)
    message = _add_message(ticket, "admin", body, now, admin=admin)
    mail.queue_message(_answer_email(ticket, body))
    _audit("support.reply", ticket, admin, before, message_id=message.id)
    return message


def _audit(action: str, ticket: SupportTicket, admin: AdminUser, before: str, **details) -> None:
    """The audit record of an admin's change: the ticket's owner (the audit page filters by partner)
    and its status before and after."""
    audit.record(
        action,
        admin=admin,
        target_type="support_ticket",
        target_id=ticket.id,
        details={
            "partner_id": ticket.partner_id,
            **details,
            "before": {"status": before},
            "after": {"status": ticket.status},
        },
    )


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
    before = _move(ticket, OPEN_STATUSES, now, status="closed", closed_at=now)
    _audit("support.close", ticket, admin, before)
    return ticket


def close_idle(*, now: datetime | None = None) -> int:
    """Close the tickets left ``TICKET_AUTO_CLOSE_DAYS`` or more (0: never) in ``bot_answered`` or
    ``awaiting_user`` without news, each with a bot message saying so. Returns how many. Idempotent: one
    UPDATE claims them; a ticket that moved meanwhile is not touched."""
    now = now or utcnow()
    days = current_app.config["TICKET_AUTO_CLOSE_DAYS"]
    if days <= 0:  # 0 switches auto-closing off: a ticket would otherwise close the moment it is answered
        return 0
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
