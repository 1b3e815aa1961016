"""Reading tickets: a thread's messages, a partner's tickets, the admins' inbox by status. Read-only."""

from __future__ import annotations

from sqlalchemy import func, select

from contentflow.extensions import db
from plugins.support.models import TICKET_STATUSES, SupportMessage, SupportTicket
from plugins.support.services.tickets import OPEN_STATUSES


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
