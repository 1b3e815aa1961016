"""Development outbox: e-mails that would have gone out, kept for the dev outbox page.

Written only when no ``BREVO_API_KEY`` is set outside production; production never writes here.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from contentflow.extensions import db
from contentflow.models.base import BigIntId, UTCDateTime, utcnow


class DevOutboxMessage(db.Model):
    __tablename__ = "dev_outbox_messages"

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    to_email: Mapped[str] = mapped_column(String(254), index=True)
    subject: Mapped[str] = mapped_column(String(300))
    text_body: Mapped[str] = mapped_column(Text)
    html_body: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
