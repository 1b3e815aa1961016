"""The one ledger: append-only money entries per partner, in EUR cents."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from contentflow.extensions import db
from contentflow.models.base import BigIntId, UTCDateTime, utcnow

LEDGER_KINDS = (
    "click_earnings",
    "conversion_share",
    "referral_bonus",
    "withdrawal",
    "withdrawal_returned",
    "reversal",
    "adjustment",
)


class LedgerEntry(db.Model):
    __tablename__ = "ledger_entries"
    __table_args__ = (
        CheckConstraint("kind IN (" + ", ".join(f"'{k}'" for k in LEDGER_KINDS) + ")", name="kind"),
        CheckConstraint("amount_cents <> 0", name="nonzero"),
        Index("ix_ledger_partner_created", "partner_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    partner_id: Mapped[str] = mapped_column(ForeignKey("partners.id", ondelete="RESTRICT"))
    kind: Mapped[str] = mapped_column(String(24))
    #: Signed EUR cents: credits positive, debits negative.
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    #: Unique per entry (e.g. ``conv:<network>:<txn>:confirmed``): writing an entry twice is impossible.
    idempotency_key: Mapped[str] = mapped_column(String(160), unique=True)
    conversion_id: Mapped[int | None] = mapped_column(ForeignKey("conversions.id", ondelete="RESTRICT"))
    payout_id: Mapped[int | None] = mapped_column(ForeignKey("payouts.id", ondelete="RESTRICT"))
    memo: Mapped[str] = mapped_column(String(500), default="")
    #: The admin who made an ``adjustment`` (its reason is the memo).
    admin_user_id: Mapped[int | None] = mapped_column(ForeignKey("admin_users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
