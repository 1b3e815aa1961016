"""An asset to post for a partner on one platform, and where that stands."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from contentflow.extensions import db
from contentflow.models.base import BigIntId, UTCDateTime, one_of, utcnow
from contentflow.platforms import PLATFORMS

ASSIGNMENT_STATUSES = ("pending", "approved", "posting", "posted", "failed", "skipped")
LIVE_STATUSES = ("pending", "approved", "posting", "posted")
_LIVE = "status IN ('pending', 'approved', 'posting', 'posted')"


class Assignment(db.Model):
    __tablename__ = "assignments"
    __table_args__ = (
        CheckConstraint(
            "status IN ('pending', 'approved', 'posting', 'posted', 'failed', 'skipped')", name="status"
        ),
        CheckConstraint(one_of("platform", PLATFORMS), name="platform"),
        # Never two live assignments for the same asset, partner and platform.
        Index(
            "uq_assignments_live",
            "asset_id",
            "partner_id",
            "platform",
            unique=True,
            postgresql_where=text(_LIVE),
            sqlite_where=text(_LIVE),
        ),
        Index("ix_assignments_due", "status", "planned_at"),
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    asset_id: Mapped[str] = mapped_column(ForeignKey("assets.id", ondelete="CASCADE"))
    partner_id: Mapped[str] = mapped_column(ForeignKey("partners.id", ondelete="CASCADE"), index=True)
    platform: Mapped[str] = mapped_column(String(16))
    partner_account_id: Mapped[int | None] = mapped_column(
        ForeignKey("partner_accounts.id", ondelete="SET NULL")
    )
    status: Mapped[str] = mapped_column(String(16), default="pending")
    planned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    external_post_id: Mapped[str | None] = mapped_column(String(200))
    external_url: Mapped[str | None] = mapped_column(String(2048))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
