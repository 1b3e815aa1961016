"""Every postback attempt, whatever became of it: accepted, duplicate, ignored, review or rejected."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from contentflow.extensions import db
from contentflow.models.base import BigIntId, UTCDateTime, utcnow

POSTBACK_OUTCOMES = ("accepted", "duplicate", "ignored", "review", "rejected")


class PostbackLog(db.Model):
    __tablename__ = "postback_log"
    __table_args__ = (
        CheckConstraint(
            "outcome IN ('accepted', 'duplicate', 'ignored', 'review', 'rejected')", name="outcome"
        ),
        Index("ix_postback_log_created", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    #: The ``network=`` value as sent (the network may not exist).
    network_name: Mapped[str] = mapped_column(String(64), default="")
    network_id: Mapped[int | None] = mapped_column(ForeignKey("networks.id", ondelete="SET NULL"))
    txn_id: Mapped[str] = mapped_column(String(128), default="")
    conversion_id: Mapped[int | None] = mapped_column(ForeignKey("conversions.id", ondelete="SET NULL"))
    outcome: Mapped[str] = mapped_column(String(16))
    #: Machine-readable why (``bad_secret``, ``stale_status``, ``unknown_click``...).
    reason: Mapped[str] = mapped_column(String(64), default="")
    http_status: Mapped[int] = mapped_column(Integer)
    #: The fields received, secrets removed.
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    ip_hash: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
