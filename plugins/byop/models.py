"""A partner's BYOP submission: their own post, made into an asset that promotes an offer."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from contentflow.extensions import db
from contentflow.models.base import UTCDateTime, utcnow
from contentflow.security import new_short_id


class Submission(db.Model):
    __tablename__ = "byop_submissions"

    #: Short random id: it is in the kit's URL (``/byop/kit?id=``), so it must not be guessable.
    id: Mapped[str] = mapped_column(String(16), primary_key=True, default=lambda: new_short_id(16))
    partner_id: Mapped[str] = mapped_column(ForeignKey("partners.id", ondelete="CASCADE"), index=True)
    #: The asset the submission became (its title, text, hashtags, call to action, offer and status).
    asset_id: Mapped[str] = mapped_column(ForeignKey("assets.id", ondelete="CASCADE"), unique=True)
    source_url: Mapped[str | None] = mapped_column(String(2048))
    #: What the partner typed, kept as typed (the asset holds the normalised text).
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    hashtags: Mapped[str] = mapped_column(String(300), default="")
    cta: Mapped[str] = mapped_column(String(200), default="")
    #: The partner's share of confirmed sales through this asset, in basis points (4000 = 40 %).
    revshare_bps: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
