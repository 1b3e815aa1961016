"""The earnings plugin's one table: which ledger earnings already gave the referrer their bonus.

The money itself is in the core ledger (``referral_bonus`` entries keyed ``referral:<source entry>:bonus``
and ``referral:<source entry>:reversal``). This table is the claim: its primary key is the source entry,
so a source gives one bonus whatever the number of jobs running, and it remembers a zero bonus (a
few cents of earnings) so that the source is not looked at again.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, Integer
from sqlalchemy.orm import Mapped, mapped_column

from contentflow.extensions import db
from contentflow.models.base import UTCDateTime, utcnow


class EarningsReferralBonus(db.Model):
    """One referred partner's earning and the referrer's bonus on it (and its reversal, if any)."""

    __tablename__ = "earnings_referral_bonuses"
    __table_args__ = (
        CheckConstraint("amount_cents >= 0", name="amount"),
        Index("ix_earnings_referral_bonuses_referrer", "referrer_id", "referred_id"),
    )

    #: The referred partner's earning (click earnings or sale share) the bonus is a share of.
    source_entry_id: Mapped[int] = mapped_column(
        ForeignKey("ledger_entries.id", ondelete="RESTRICT"), primary_key=True, autoincrement=False
    )
    referrer_id: Mapped[str] = mapped_column(ForeignKey("partners.id", ondelete="RESTRICT"))
    referred_id: Mapped[str] = mapped_column(ForeignKey("partners.id", ondelete="RESTRICT"))
    #: ``REFERRAL_BONUS_PCT`` when the bonus was written, in basis points (1000 = 10 %).
    bonus_bps: Mapped[int] = mapped_column(Integer)
    #: What the referrer was credited; 0 when the share rounds to nothing (then no ledger entry).
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    bonus_entry_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_entries.id", ondelete="RESTRICT"))
    #: Set once, when the source sale was reversed and the bonus taken back.
    reversal_entry_id: Mapped[int | None] = mapped_column(
        ForeignKey("ledger_entries.id", ondelete="RESTRICT")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    reversed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
