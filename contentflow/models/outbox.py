"""The mail outbox: every e-mail is a row written in the transaction that asks for it, then delivered
from here (a job right after the commit, and a periodic sweep for what that job missed).

An e-mail therefore exists exactly when what caused it was committed: a Redis failure after the commit
delays it, never loses it. Bodies are encrypted at rest (sign-in links are in them) and cleared once
Brevo took the message; in development without a Brevo key they stay, for the dev outbox page.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, CheckConstraint, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from contentflow.extensions import db
from contentflow.models.base import BigIntId, UTCDateTime, one_of, utcnow
from contentflow.security import EncryptedText

OUTBOX_STATUSES = ("pending", "sending", "sent", "failed")
#: ``provider_message_id`` of a message delivered to the development outbox instead of Brevo.
DEV_OUTBOX = "outbox"


class OutboxMessage(db.Model):
    __tablename__ = "mail_outbox"
    __table_args__ = (
        CheckConstraint(one_of("status", OUTBOX_STATUSES), name="status"),
        Index("ix_mail_outbox_due", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    to_email: Mapped[str] = mapped_column(String(254), index=True)
    subject: Mapped[str] = mapped_column(String(300))
    text_body: Mapped[str] = mapped_column(EncryptedText, default="")
    html_body: Mapped[str] = mapped_column(EncryptedText, default="")
    #: What kind of e-mail (``magic_link``, ``payout_details``...): a Brevo tag, and for people.
    tag: Mapped[str] = mapped_column(String(40), default="transactional")
    #: Extra headers to send (``List-Unsubscribe`` on a share e-mail).
    headers: Mapped[dict[str, str] | None] = mapped_column(JSON)
    #: pending -> sending (claimed by one worker) -> sent, or failed; back to pending after a transient
    #: failure.
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    #: When the sweep may take it (a job normally delivers it well before).
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: When a worker claimed it; a claim much older than a delivery takes means the worker died.
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: Brevo's message id, or ``outbox`` for the development outbox.
    provider_message_id: Mapped[str | None] = mapped_column(String(200))
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
