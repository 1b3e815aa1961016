"""Affiliate networks (who report sales by postback) and their offers (where clicks are sent)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, CheckConstraint, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from contentflow.extensions import db
from contentflow.models.base import BigIntId, UTCDateTime, utcnow
from contentflow.security import EncryptedText


class Network(db.Model):
    __tablename__ = "networks"

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    #: The ``network=`` value of its postbacks.
    name: Mapped[str] = mapped_column(String(64), unique=True)
    #: Shared secret of its postbacks (``token=`` or HMAC key), encrypted at rest.
    secret: Mapped[str] = mapped_column(EncryptedText)
    #: The secret before the last rotation, still accepted until ``previous_secret_expires_at``.
    previous_secret: Mapped[str | None] = mapped_column(EncryptedText)
    previous_secret_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: Comma-separated IPs or CIDR networks postbacks may come from; None accepts any address.
    allowed_ips: Mapped[str | None] = mapped_column(String(1000))
    #: Largest commission one postback may report, in EUR cents (an "absurd" amount above it is refused).
    max_amount_cents: Mapped[int] = mapped_column(BigInteger, default=1_000_000, server_default="1000000")
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Offer(db.Model):
    __tablename__ = "offers"
    __table_args__ = (
        # replace() is case-sensitive on every backend; SQLite's LIKE is not, and would let {SUBID} in.
        CheckConstraint("replace(url_template, '{subid}', '') <> url_template", name="subid_macro"),
        CheckConstraint("cpc_cents IS NULL OR cpc_cents >= 0", name="cpc"),
        CheckConstraint("revshare_bps IS NULL OR (revshare_bps BETWEEN 0 AND 10000)", name="revshare"),
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    network_id: Mapped[int] = mapped_column(ForeignKey("networks.id", ondelete="RESTRICT"), index=True)
    #: Destination URL holding the ``{subid}`` macro, filled with ``partner:asset:click``.
    url_template: Mapped[str] = mapped_column(String(2048))
    #: Pay per billable click, in EUR cents.
    cpc_cents: Mapped[int | None] = mapped_column(BigInteger)
    #: Partner share of the network's commission, in basis points (4000 = 40 %).
    revshare_bps: Mapped[int | None] = mapped_column(Integer)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    network = relationship(Network, lazy="joined")
