"""Magic-link sign-in: single-use, expiring tokens, stored hashed, bound to the e-mail they went to."""

from __future__ import annotations

from datetime import timedelta

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import delete, or_, select, update

from contentflow.errors import Gone, ValidationError
from contentflow.extensions import db
from contentflow.models import MagicLinkToken, Partner
from contentflow.models.base import utcnow
from contentflow.security import hash_token, new_token
from contentflow.services import audit, partners


def issue_token(partner: Partner, *, actor: str | None = None) -> str:
    """Create a token for ``partner``'s current e-mail and return it (only the hash is stored). Audit-logged
    when an operator (``actor``) asks for it rather than the partner."""
    token = new_token()
    ttl = timedelta(minutes=current_app.config["MAGIC_LINK_TTL_MINUTES"])
    db.session.add(
        MagicLinkToken(
            token_hash=hash_token(token),
            partner_id=partner.id,
            email=partner.email,
            expires_at=utcnow() + ttl,
        )
    )
    db.session.flush()
    if actor is not None:
        audit.record("partner.login_link", actor=actor, target_type="partner", target_id=partner.id)
    return token


def issue_for_email(raw_email: str, *, locale: str, referral_code: str | None = None) -> tuple[Partner, str]:
    """Find or create the partner of ``raw_email`` (a new one referred by the owner of
    ``referral_code``, when it names one) and issue a token for them: ``(partner, token)``.

    Raises ValidationError for a malformed address. Creates at most one partner per address.
    """
    partner = partners.get_or_create_partner(raw_email, locale=locale, referral_code=referral_code)
    return partner, issue_token(partner)


def login_url(token: str) -> str:
    """Absolute link built from ``PUBLIC_BASE_URL``, never from the request's Host header."""
    return f"{current_app.config['PUBLIC_BASE_URL']}/partner/login?token={token}"


def check_token(token: str) -> MagicLinkToken:
    """The valid token row for ``token``, without using it. Raises ValidationError (unknown) or Gone."""
    if not token or len(token) > 128:
        raise ValidationError(_("This sign-in link is not valid."), code="invalid_token")
    row = db.session.scalar(select(MagicLinkToken).where(MagicLinkToken.token_hash == hash_token(token)))
    if row is None:
        raise ValidationError(_("This sign-in link is not valid."), code="invalid_token")
    if row.used_at is not None:
        raise Gone(_("This sign-in link was already used. Ask for a new one."), code="token_used")
    if row.expires_at <= utcnow():
        raise Gone(_("This sign-in link has expired. Ask for a new one."), code="token_expired")
    partner = db.session.get(Partner, row.partner_id)
    if partner is None or partner.email != row.email:
        raise Gone(_("This sign-in link is no longer valid. Ask for a new one."), code="token_stale")
    if not partner.is_active:
        raise Gone(_("This account is suspended."), code="partner_suspended")
    return row


def redeem_token(token: str) -> Partner:
    """Use ``token`` once and return its partner. Raises ValidationError / Gone.

    Single use under concurrency: the conditional UPDATE claims the row; a second redeemer updates nothing.
    """
    row = check_token(token)
    now = utcnow()
    claimed = db.session.execute(
        update(MagicLinkToken)
        .where(MagicLinkToken.id == row.id, MagicLinkToken.used_at.is_(None))
        .values(used_at=now)
    ).rowcount
    if claimed != 1:
        raise Gone(_("This sign-in link was already used. Ask for a new one."), code="token_used")
    partner = db.session.get(Partner, row.partner_id)
    partner.last_login_at = now
    db.session.flush()
    return partner


def purge_tokens(older_than: timedelta = timedelta(days=1)) -> int:
    """Delete tokens used or expired for longer than ``older_than``. Idempotent; returns the count."""
    cutoff = utcnow() - older_than
    result = db.session.execute(
        delete(MagicLinkToken).where(or_(MagicLinkToken.expires_at < cutoff, MagicLinkToken.used_at < cutoff))
    )
    return result.rowcount
