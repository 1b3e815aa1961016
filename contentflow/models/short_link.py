"""Tracked short links (``/l/<code>``) and the clicks they record."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, CheckConstraint, ForeignKey, Index, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from contentflow.extensions import db
from contentflow.models.base import BigIntId, UTCDateTime, utcnow
from contentflow.security import new_short_id


class ShortLink(db.Model):
    __tablename__ = "short_links"
    __table_args__ = (UniqueConstraint("partner_id", "asset_id"),)

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    #: Random URL-safe code: enumerating codes is hopeless.
    code: Mapped[str] = mapped_column(String(24), unique=True)
    partner_id: Mapped[str] = mapped_column(ForeignKey("partners.id", ondelete="CASCADE"))
    asset_id: Mapped[str] = mapped_column(ForeignKey("assets.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


_UNACCRUED = "accrual_batch IS NULL AND is_billable AND cpc_cents > 0"


class Click(db.Model):
    __tablename__ = "clicks"
    __table_args__ = (
        Index("ix_clicks_partner_created", "partner_id", "created_at"),
        #: The daily CPC accrual and the network-wide 7-day figures read clicks by time across partners.
        Index("ix_clicks_created", "created_at"),
        Index("ix_clicks_visitor", "short_link_id", "visitor_hash", "created_at"),
        #: What the accrual still has to credit: it leaves the index once credited.
        Index(
            "ix_clicks_unaccrued",
            "created_at",
            postgresql_where=text(_UNACCRUED),
            sqlite_where=text(_UNACCRUED),
        ),
        CheckConstraint("is_billable = false OR is_bot = false", name="bot_not_billable"),
    )

    #: Made in the app (not by the database) so the subid can be built before the row is written.
    id: Mapped[str] = mapped_column(String(16), primary_key=True, default=lambda: new_short_id(14))
    short_link_id: Mapped[int | None] = mapped_column(ForeignKey("short_links.id", ondelete="SET NULL"))
    partner_id: Mapped[str] = mapped_column(ForeignKey("partners.id", ondelete="CASCADE"))
    asset_id: Mapped[str] = mapped_column(ForeignKey("assets.id", ondelete="CASCADE"))
    offer_id: Mapped[int | None] = mapped_column(ForeignKey("offers.id", ondelete="SET NULL"))
    #: The offer's CPC as of the click, in EUR cents (None: the offer pays no CPC).
    cpc_cents: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: Keyed hash of the client IP (``IP_HASH_KEY``); the IP itself is never stored.
    ip_hash: Mapped[str] = mapped_column(String(32))
    #: Who is billed once per link and repeat window: the keyed hash of the IP alone, as ``ip_hash``
    #: (earlier releases stored the hash of IP + user agent). ``ix_clicks_visitor`` serves it.
    visitor_hash: Mapped[str] = mapped_column(String(32))
    user_agent: Mapped[str] = mapped_column(String(512), default="")
    referrer: Mapped[str] = mapped_column(String(1024), default="")
    is_bot: Mapped[bool] = mapped_column(Boolean, default=False)
    is_billable: Mapped[bool] = mapped_column(Boolean, default=True)
    #: Why a click is not billable: head, bot, repeat.
    not_billable_reason: Mapped[str | None] = mapped_column(String(16))
    #: The accrual run that credited this click (its ledger key ends with it); None: not credited yet.
    accrual_batch: Mapped[str | None] = mapped_column(String(16))
