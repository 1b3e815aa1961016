"""What a fraud rule measured when it placed a hold: the figure behind each risk hold (the hold itself is
the core's ``holds`` row, which blocks withdrawals and publishing)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from contentflow.extensions import db
from contentflow.models.base import BigIntId, UTCDateTime, one_of, utcnow

#: The rules, each the ``reason`` of the holds it places: ``velocity`` (clicks on one partner's links in
#: 10 minutes), ``shared_ip`` (partners one hashed IP clicked), ``fast_conversions`` (sales reported too
#: soon after their click to be human).
RULES = ("velocity", "shared_ip", "fast_conversions")


class RiskFinding(db.Model):
    """The figure a rule measured when it placed a hold: what the operator page shows beside it."""

    __tablename__ = "risk_findings"
    __table_args__ = (CheckConstraint(one_of("rule", RULES), name="rule"),)

    #: One finding per hold: a sweep that finds the same partner again while held writes nothing.
    hold_id: Mapped[int] = mapped_column(
        BigIntId, ForeignKey("holds.id", ondelete="CASCADE"), primary_key=True
    )
    partner_id: Mapped[str] = mapped_column(ForeignKey("partners.id", ondelete="CASCADE"), index=True)
    rule: Mapped[str] = mapped_column(String(24))
    #: What the rule counted (clicks, partners, sales), and the threshold it reached.
    figure: Mapped[int] = mapped_column(BigInteger)
    threshold: Mapped[int] = mapped_column(BigInteger)
    #: The length of the window the rule counted over, in minutes.
    window_minutes: Mapped[int] = mapped_column(Integer)
    found_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
