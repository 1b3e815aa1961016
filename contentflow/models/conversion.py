"""Sales reported by a network's postback: one row per (network, txn_id)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, CheckConstraint, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from contentflow.extensions import db
from contentflow.models.base import BigIntId, UTCDateTime, utcnow

CONVERSION_STATUSES = ("pending", "confirmed", "reversed", "rejected")


class Conversion(db.Model):
    __tablename__ = "conversions"
    __table_args__ = (
        # A replayed postback can never make a second conversion.
        UniqueConstraint("network_id", "txn_id"),
        CheckConstraint("status IN ('pending', 'confirmed', 'reversed', 'rejected')", name="status"),
        #: Recent sales across partners (the fraud rules' click-to-conversion sweep) are read by time.
        Index("ix_conversions_created", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    network_id: Mapped[int] = mapped_column(ForeignKey("networks.id", ondelete="RESTRICT"))
    txn_id: Mapped[str] = mapped_column(String(128))
    #: The raw ``subid`` as the network sent it back.
    subid: Mapped[str] = mapped_column(String(64), default="")
    click_id: Mapped[str | None] = mapped_column(ForeignKey("clicks.id", ondelete="SET NULL"), index=True)
    partner_id: Mapped[str | None] = mapped_column(ForeignKey("partners.id", ondelete="SET NULL"), index=True)
    asset_id: Mapped[str | None] = mapped_column(ForeignKey("assets.id", ondelete="SET NULL"))
    offer_id: Mapped[int | None] = mapped_column(ForeignKey("offers.id", ondelete="SET NULL"))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    #: The commission as sent, in minor units of ``currency``.
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3), default="EUR")
    #: The commission in EUR cents at ``fx_rate``; None while no rate is known.
    amount_eur_cents: Mapped[int | None] = mapped_column(BigInteger)
    #: EUR per unit of ``currency`` used, as a decimal string (exact on every backend).
    fx_rate: Mapped[str | None] = mapped_column(String(32))
    #: Set when the postback could not be attributed or converted: an admin resolves it.
    needs_review: Mapped[bool] = mapped_column(Boolean, default=False)
    review_reason: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
