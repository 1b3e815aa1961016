"""Exchange rates to EUR, maintained by admins; conversions record the rate they used."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from contentflow.extensions import db
from contentflow.models.base import UTCDateTime, utcnow


class FxRate(db.Model):
    __tablename__ = "fx_rates"
    __table_args__ = (CheckConstraint("currency = upper(currency)", name="currency_upper"),)

    #: ISO 4217 code, e.g. ``USD``.
    currency: Mapped[str] = mapped_column(String(3), primary_key=True)
    #: EUR for one unit of ``currency``, as a decimal string (exact on every backend).
    eur_per_unit: Mapped[str] = mapped_column(String(32))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    updated_by_admin_id: Mapped[int | None] = mapped_column(ForeignKey("admin_users.id", ondelete="SET NULL"))
