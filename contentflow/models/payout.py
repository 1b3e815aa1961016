"""Withdrawal requests and their payment: requested -> approved -> paid, or rejected."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from contentflow.extensions import db
from contentflow.models.base import BigIntId, UTCDateTime, utcnow
from contentflow.security import EncryptedText

PAYOUT_STATUSES = ("requested", "approved", "paid", "rejected")


class Payout(db.Model):
    __tablename__ = "payouts"
    __table_args__ = (
        CheckConstraint("amount_cents > 0", name="positive"),
        CheckConstraint("status IN ('requested', 'approved', 'paid', 'rejected')", name="status"),
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    partner_id: Mapped[str] = mapped_column(ForeignKey("partners.id", ondelete="RESTRICT"), index=True)
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    method: Mapped[str] = mapped_column(String(16))
    #: What the admin sees of the destination (masked PayPal e-mail or IBAN).
    details_masked: Mapped[str] = mapped_column(String(120), default="")
    #: The destination as it was when the payout was requested, encrypted at rest: the payment file pays
    #: this, never the partner's current details. PayPal: the e-mail; bank: the IBAN and its holder.
    destination_paypal_email: Mapped[str | None] = mapped_column(EncryptedText)
    destination_iban: Mapped[str | None] = mapped_column(EncryptedText)
    destination_account_holder: Mapped[str | None] = mapped_column(EncryptedText)
    #: How often the partner changed this method's details while the payout was open. Each change sends an
    #: approved payout back to approval, and an approval must name the count its admin saw.
    details_change_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    #: The partner's details for this method after their last change (masked), shown beside the snapshot.
    details_changed_to: Mapped[str | None] = mapped_column(String(120))
    status: Mapped[str] = mapped_column(String(16), default="requested")
    reference: Mapped[str | None] = mapped_column(String(120))
    #: Why an admin rejected it, shown to the partner.
    note: Mapped[str | None] = mapped_column(String(500))
    #: Set on payouts the weekly job proposed (``weekly:<iso week>:<partner>``): never proposed twice.
    proposal_key: Mapped[str | None] = mapped_column(String(64), unique=True)
    decided_by_admin_id: Mapped[int | None] = mapped_column(ForeignKey("admin_users.id", ondelete="SET NULL"))
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
