"""An asset to post for a partner on one platform, and where that stands."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from contentflow.extensions import db
from contentflow.models.base import BigIntId, UTCDateTime, one_of, utcnow
from contentflow.platforms import PLATFORMS

#: pending (waits for the partner's review) -> approved (due at ``planned_at``) -> posting (one worker is
#: posting it) -> posted | failed; skipped by the partner or an admin; needs_review when a post's outcome
#: could not be found out (a worker died mid-post on a platform we cannot search): an admin decides.
ASSIGNMENT_STATUSES = ("pending", "approved", "posting", "posted", "failed", "skipped", "needs_review")
#: May be on the platform, or will be: never two of these for one asset, partner and platform.
LIVE_STATUSES = ("pending", "approved", "posting", "posted", "needs_review")
_LIVE = one_of("status", LIVE_STATUSES)


class Assignment(db.Model):
    __tablename__ = "assignments"
    __table_args__ = (
        CheckConstraint(one_of("status", ASSIGNMENT_STATUSES), name="status"),
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
        #: Daily caps and minimum intervals count an account's recent posts.
        Index("ix_assignments_account_posting", "partner_account_id", "posting_started_at"),
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
    #: When a worker took it for posting (a post still ``posting`` long after is reconciled).
    posting_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    posted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: A marker put in the post where the platform allows, to find the post again after a crash.
    post_tag: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
