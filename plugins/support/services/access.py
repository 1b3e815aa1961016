"""Who may read a ticket: its partner (signed in), or the visitor who opened it. A visitor's tickets are
listed in their session (a cookie signed with ``SECRET_KEY``: it cannot be forged); the answer e-mail
carries a signed key that adds the ticket to the session of whoever opens it (the owner of the
address the ticket's answers go to)."""

from __future__ import annotations

from flask import current_app
from itsdangerous import BadSignature, URLSafeTimedSerializer

from plugins.support.models import SupportTicket

SALT = "contentflow.support.ticket"
#: How long the key of an answer e-mail opens its ticket.
KEY_MAX_AGE_SECONDS = 60 * 60 * 24 * 60
#: How many tickets a visitor's session remembers (the latest).
MAX_SESSION_TICKETS = 20


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=SALT)


def ticket_key(ticket_id: str) -> str:
    """A signed, expiring key naming ``ticket_id``: proof of having received the ticket's e-mail."""
    return _serializer().dumps(ticket_id)


def ticket_of_key(key: str) -> str | None:
    """The ticket id ``key`` was made for, or None when it is forged, altered or expired."""
    try:
        ticket_id = _serializer().loads(key, max_age=KEY_MAX_AGE_SECONDS)
    except BadSignature:  # SignatureExpired is a BadSignature
        return None
    return ticket_id if isinstance(ticket_id, str) else None


def remembered(ids: list[str], ticket_id: str) -> list[str]:
    """``ids`` (a visitor's session list) with ``ticket_id`` added last, the oldest forgotten first."""
    kept = [each for each in ids if isinstance(each, str) and each != ticket_id]
    return [*kept, ticket_id][-MAX_SESSION_TICKETS:]


def thread_url(ticket: SupportTicket) -> str:
    """The thread's absolute URL (``PUBLIC_BASE_URL``) with the ticket's key: it opens the thread for
    whoever reads the e-mail sent to the ticket's address, signed in or not."""
    return f"{current_app.config['PUBLIC_BASE_URL']}/support/tickets/{ticket.id}?key={ticket_key(ticket.id)}"
