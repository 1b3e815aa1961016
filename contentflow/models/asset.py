"""Video (or link-only) assets that promote an offer."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from contentflow.extensions import db
from contentflow.models.base import UTCDateTime, utcnow
from contentflow.security import new_short_id

ASSET_STATUSES = ("new", "processing", "ready", "failed", "quarantined")
#: How people read a status (``flask assets show``, the admin pages): ``processing`` is the ingestion.
STATUS_WORDS = {"processing": "ingesting"}


class Asset(db.Model):
    __tablename__ = "assets"
    __table_args__ = (
        CheckConstraint("status IN ('new', 'processing', 'ready', 'failed', 'quarantined')", name="status"),
        CheckConstraint("revshare_bps IS NULL OR (revshare_bps BETWEEN 0 AND 10000)", name="revshare"),
    )

    #: Short random id: it travels in the subid.
    id: Mapped[str] = mapped_column(String(12), primary_key=True, default=new_short_id)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    hashtags: Mapped[str] = mapped_column(String(300), default="")
    cta: Mapped[str] = mapped_column(String(200), default="")
    source_url: Mapped[str | None] = mapped_column(String(2048))
    #: The partner who brought this asset (BYOP); None for the operator's own assets.
    owner_partner_id: Mapped[str | None] = mapped_column(ForeignKey("partners.id", ondelete="SET NULL"))
    offer_id: Mapped[int | None] = mapped_column(ForeignKey("offers.id", ondelete="SET NULL"), index=True)
    #: The asset's own revenue share in basis points (4000 = 40 %); None means the offer's.
    revshare_bps: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default="new")
    #: Path of the stored media file, relative to the media folder, once ingested.
    media_path: Mapped[str | None] = mapped_column(String(500))
    checksum_sha256: Mapped[str | None] = mapped_column(String(64))
    size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    mime_type: Mapped[str | None] = mapped_column(String(100))
    #: What ffprobe read of the media: length and frame size.
    duration_ms: Mapped[int | None] = mapped_column(Integer)
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    #: A still of the video (relative to the media folder): Pinterest needs a cover image.
    cover_path: Mapped[str | None] = mapped_column(String(500))
    #: Why ingestion failed (``failed``) or why the asset was taken down (``quarantined``).
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    offer = relationship("Offer", lazy="joined")

    @property
    def status_text(self) -> str:
        """``new``, ``ingesting``, ``ready``, ``failed: <reason>`` or ``quarantined``."""
        word = STATUS_WORDS.get(self.status, self.status)
        return f"failed: {self.error or 'unknown reason'}" if self.status == "failed" else word
