"""A partner's connected social account, with its OAuth tokens encrypted at rest."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from contentflow.extensions import db
from contentflow.models.base import BigIntId, UTCDateTime, one_of, utcnow
from contentflow.platforms import PLATFORMS
from contentflow.security import EncryptedText


class PartnerAccount(db.Model):
    __tablename__ = "partner_accounts"
    __table_args__ = (
        CheckConstraint(one_of("platform", PLATFORMS), name="platform"),
        CheckConstraint("daily_cap >= 0", name="daily_cap"),
        CheckConstraint("min_interval_minutes >= 0", name="min_interval"),
        UniqueConstraint("partner_id", "platform", "external_id"),
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    partner_id: Mapped[str] = mapped_column(ForeignKey("partners.id", ondelete="CASCADE"), index=True)
    platform: Mapped[str] = mapped_column(String(16))
    handle: Mapped[str] = mapped_column(String(120), default="")
    #: The account's id on the platform (channel id, user id...).
    external_id: Mapped[str] = mapped_column(String(120))
    access_token: Mapped[str | None] = mapped_column(EncryptedText)
    refresh_token: Mapped[str | None] = mapped_column(EncryptedText)
    token_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    #: Most posts a day on this account.
    daily_cap: Mapped[int] = mapped_column(Integer, default=3)
    #: Least time between two posts on this account.
    min_interval_minutes: Mapped[int] = mapped_column(Integer, default=120)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
