"""What the publish plugin keeps about each connected account beyond the core's ``partner_accounts``:
how the partner wants it used, and whether it works."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from contentflow.extensions import db
from contentflow.models.base import BigIntId, UTCDateTime, utcnow


class AccountSettings(db.Model):
    """One per connected account, made with the defaults when first needed."""

    __tablename__ = "publish_account_settings"

    account_id: Mapped[int] = mapped_column(
        BigIntId, ForeignKey("partner_accounts.id", ondelete="CASCADE"), primary_key=True
    )
    #: New assignments on this account are approved at once (within the daily cap), without review.
    autopublish: Mapped[bool] = mapped_column(Boolean, default=False)
    #: Where posts go: a subreddit (Reddit, default the profile ``u_<handle>``) or a board id (Pinterest).
    target: Mapped[str | None] = mapped_column(String(120))
    #: Set when a token refresh or a post was refused for authorization: nothing is posted until the
    #: partner connects the account again.
    needs_reconnect: Mapped[bool] = mapped_column(Boolean, default=False)
    reconnect_reason: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
