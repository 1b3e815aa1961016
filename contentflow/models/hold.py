"""Holds on a partner: while one is active, publishing and withdrawals are blocked."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from contentflow.extensions import db
from contentflow.models.base import BigIntId, UTCDateTime, utcnow


class Hold(db.Model):
    __tablename__ = "holds"
    __table_args__ = (CheckConstraint("source IN ('risk', 'admin')", name="source"),)

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    partner_id: Mapped[str] = mapped_column(ForeignKey("partners.id", ondelete="CASCADE"), index=True)
    #: Machine-readable reason (``velocity``, ``manual``...).
    reason: Mapped[str] = mapped_column(String(64))
    detail: Mapped[str] = mapped_column(String(500), default="")
    source: Mapped[str] = mapped_column(String(16), default="admin")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: A hold stops counting after this time (``RISK_HOLD_DAYS``); None never expires.
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    lifted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    lifted_by_admin_id: Mapped[int | None] = mapped_column(ForeignKey("admin_users.id", ondelete="SET NULL"))
