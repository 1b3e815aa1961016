"""Partners, their magic-link tokens, and admin users: the two kinds of people who sign in."""

from __future__ import annotations

from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import CheckConstraint, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from contentflow.extensions import db
from contentflow.models.base import BigIntId, UTCDateTime, utcnow
from contentflow.security import EncryptedText, new_short_id

PARTNER_STATUSES = ("active", "suspended")
LOCALES = ("fr", "en")
#: Referral codes: random, lowercase letters and digits, never the partner's id.
REFERRAL_CODE_LENGTH = 10


def new_referral_code() -> str:
    """A fresh public referral code (``?ref=<code>``): random, unrelated to the partner's id."""
    return new_short_id(REFERRAL_CODE_LENGTH)


class Partner(UserMixin, db.Model):
    __tablename__ = "partners"
    __table_args__ = (
        CheckConstraint("status IN ('active', 'suspended')", name="status"),
        CheckConstraint("locale IN ('fr', 'en')", name="locale"),
        CheckConstraint("email = lower(email)", name="email_lowercase"),
    )

    #: Short random id: it travels in the subid ``partner:asset:click``.
    id: Mapped[str] = mapped_column(String(12), primary_key=True, default=new_short_id)
    #: Always stored lower-cased, so the unique key is case-insensitive.
    email: Mapped[str] = mapped_column(String(254), unique=True)
    display_name: Mapped[str] = mapped_column(String(80), default="")
    locale: Mapped[str] = mapped_column(String(5), default="fr")
    status: Mapped[str] = mapped_column(String(16), default="active")
    #: The partner whose ``?ref=<referral code>`` link brought this one (set once, at sign-up).
    referrer_id: Mapped[str | None] = mapped_column(
        ForeignKey("partners.id", ondelete="SET NULL"), index=True
    )
    #: Public code of this partner's share link (``/partners?ref=<code>``): shown to others, unlike the id.
    referral_code: Mapped[str] = mapped_column(String(16), unique=True, default=new_referral_code)
    #: Bumped at sign-out: every session cookie issued before stops working.
    session_epoch: Mapped[int] = mapped_column(Integer, default=0)
    #: Preferred payout method (one of ``PAYOUT_METHODS``) and its details, encrypted at rest.
    payout_method: Mapped[str | None] = mapped_column(String(16))
    payout_paypal_email: Mapped[str | None] = mapped_column(EncryptedText)
    payout_iban: Mapped[str | None] = mapped_column(EncryptedText)
    #: The bank account holder's name, as a transfer needs it (encrypted at rest like the IBAN).
    payout_account_holder: Mapped[str | None] = mapped_column(EncryptedText)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    def get_id(self) -> str:
        return f"p:{self.id}:{self.session_epoch}"

    @property
    def is_active(self) -> bool:
        return self.status == "active"

    @property
    def is_admin(self) -> bool:
        return False

    @property
    def label(self) -> str:
        return self.display_name or self.email


class MagicLinkToken(db.Model):
    __tablename__ = "magic_link_tokens"

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    #: SHA-256 of the token; the token itself exists only in the e-mail.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    partner_id: Mapped[str] = mapped_column(ForeignKey("partners.id", ondelete="CASCADE"), index=True)
    #: The address the link was sent to: a token only signs in the partner who still owns it.
    email: Mapped[str] = mapped_column(String(254))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class AdminUser(UserMixin, db.Model):
    __tablename__ = "admin_users"
    __table_args__ = (
        CheckConstraint("role IN ('admin')", name="role"),
        CheckConstraint("email = lower(email)", name="email_lowercase"),
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    #: werkzeug's salted scrypt hash.
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16), default="admin")
    session_epoch: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    def get_id(self) -> str:
        return f"a:{self.id}:{self.session_epoch}"

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def label(self) -> str:
        return self.email
