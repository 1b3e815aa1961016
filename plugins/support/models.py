"""Support tickets and their messages (the partner's or visitor's, the FAQ bot's, the admins')."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from contentflow.extensions import db
from contentflow.models.base import BigIntId, UTCDateTime, one_of, utcnow
from contentflow.security import new_short_id

#: open (waiting for the team) -> bot_answered (the FAQ bot answered) -> awaiting_user (an admin asked
#: the partner something) -> answered (an admin answered) -> closed. A partner's reply reopens the ticket.
TICKET_STATUSES = ("open", "bot_answered", "awaiting_user", "answered", "closed")
#: What the FAQ bot recognised in the first message; ``other`` goes to a person.
TICKET_TOPICS = ("payout", "login", "dmca", "other")
#: Who wrote a message: the ticket's owner (a partner or a visitor), the FAQ bot, or an admin.
MESSAGE_AUTHORS = ("partner", "bot", "admin")


class SupportTicket(db.Model):
    """A question to support, by a signed-in partner or a visitor known by e-mail."""

    __tablename__ = "support_tickets"
    __table_args__ = (
        CheckConstraint(one_of("status", TICKET_STATUSES), name="status"),
        CheckConstraint(one_of("topic", TICKET_TOPICS), name="topic"),
        CheckConstraint(one_of("locale", ("fr", "en")), name="locale"),
        #: The inbox by status, and the auto-close sweep of idle tickets.
        Index("ix_support_tickets_status_activity", "status", "last_activity_at"),
    )

    #: Random: it is in the thanks page's URL (``/support/thanks?id=``).
    id: Mapped[str] = mapped_column(String(16), primary_key=True, default=lambda: new_short_id(12))
    #: The signed-in partner who opened it; None for a visitor (known by ``email`` and their session).
    partner_id: Mapped[str | None] = mapped_column(ForeignKey("partners.id", ondelete="CASCADE"), index=True)
    #: Where answers are e-mailed: the partner's address when signed in, else the one the visitor gave.
    email: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(200))
    topic: Mapped[str] = mapped_column(String(16), default="other")
    #: The language the ticket is written in: the bot answers and the e-mails are sent in it.
    locale: Mapped[str] = mapped_column(String(5), default="fr")
    status: Mapped[str] = mapped_column(String(16), default="open")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: The last message or status change: idle tickets are closed ``TICKET_AUTO_CLOSE_DAYS`` after it.
    last_activity_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class SupportMessage(db.Model):
    """One message of a ticket's thread: the owner's, the FAQ bot's or an admin's."""

    __tablename__ = "support_messages"
    __table_args__ = (
        CheckConstraint(one_of("author", MESSAGE_AUTHORS), name="author"),
        Index("ix_support_messages_ticket_created", "ticket_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    ticket_id: Mapped[str] = mapped_column(ForeignKey("support_tickets.id", ondelete="CASCADE"))
    author: Mapped[str] = mapped_column(String(8))
    #: The admin who wrote an ``admin`` message.
    admin_user_id: Mapped[int | None] = mapped_column(ForeignKey("admin_users.id", ondelete="SET NULL"))
    #: Plain text as written; escaped wherever it is shown.
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
