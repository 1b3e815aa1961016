"""The share log (every share a partner makes, e-mail consent included) and the addresses that asked never
to receive a shared e-mail again."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from contentflow.extensions import db
from contentflow.models.base import BigIntId, UTCDateTime, one_of, utcnow

CHANNELS = ("copy", "whatsapp", "telegram", "x", "email", "qr")


class Share(db.Model):
    __tablename__ = "sharekit_shares"
    __table_args__ = (
        CheckConstraint(one_of("channel", CHANNELS), name="channel"),
        CheckConstraint("recipients_count >= 0", name="recipients"),
        #: The daily e-mail limit and the share log read a partner's latest shares.
        Index("ix_sharekit_shares_partner_created", "partner_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    partner_id: Mapped[str] = mapped_column(ForeignKey("partners.id", ondelete="CASCADE"))
    asset_id: Mapped[str] = mapped_column(ForeignKey("assets.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(16))
    #: E-mails sent by this share (0 for the other channels).
    recipients_count: Mapped[int] = mapped_column(Integer, default=0)
    #: An e-mail share: the partner ticked that every recipient agreed to receive it (the proof kept,
    #: with the wording they ticked and where it came from).
    has_consent: Mapped[bool] = mapped_column(Boolean, default=False)
    consent_text: Mapped[str] = mapped_column(String(300), default="")
    ip_hash: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Unsubscribe(db.Model):
    __tablename__ = "sharekit_unsubscribes"

    #: Keyed hash of the lower-cased address: recognised, never readable.
    email_hash: Mapped[str] = mapped_column(String(32), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
