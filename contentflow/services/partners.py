"""Partners: find or create by e-mail, language choice."""

from __future__ import annotations

from email_validator import EmailNotValidError, validate_email
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from contentflow.errors import NotFound, ValidationError
from contentflow.extensions import db
from contentflow.models import Partner
from contentflow.models.partner import LOCALES
from contentflow.services import audit


def normalize_email(raw: str) -> str:
    """Lower-cased, syntax-checked address (no DNS look-up). Raises ValidationError."""
    try:
        return validate_email(raw.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError:
        raise ValidationError(_("This e-mail address is not valid."), code="invalid_email") from None


def find_partner_by_email(email: str) -> Partner | None:
    return db.session.scalar(select(Partner).where(Partner.email == email.lower()))


def get_or_create_partner(
    email: str, *, locale: str = "fr", referrer_id: str | None = None, actor: str | None = None
) -> Partner:
    """The partner with this e-mail, created if new (audit-logged when an operator, ``actor``, creates
    it). Idempotent, also under concurrent sign-ups."""
    email = normalize_email(email)
    partner = find_partner_by_email(email)
    if partner is not None:
        return partner
    referrer = db.session.get(Partner, referrer_id) if referrer_id else None
    partner = Partner(
        email=email,
        locale=locale if locale in LOCALES else "fr",
        referrer_id=referrer.id if referrer else None,
    )
    try:
        with db.session.begin_nested():
            db.session.add(partner)
    except IntegrityError:
        # A concurrent request created the same e-mail first: use theirs.
        partner = find_partner_by_email(email)
        if partner is None:
            raise
        return partner
    if actor is not None:
        audit.record(
            "partner.create",
            actor=actor,
            target_type="partner",
            target_id=partner.id,
            details={"email": email},
        )
    return partner


def lock_partner(partner_id: str) -> Partner:
    """The partner's row, locked until the transaction ends (PostgreSQL ``SELECT ... FOR UPDATE``; on
    SQLite every transaction is already serialised). What serialises a partner's money moves. Raises
    NotFound."""
    partner = db.session.execute(
        select(Partner)
        .where(Partner.id == partner_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()
    if partner is None:
        raise NotFound(_("No such partner."), code="unknown_partner")
    return partner


def get_partner(partner_id: str) -> Partner:
    partner = db.session.get(Partner, partner_id)
    if partner is None:
        raise NotFound(_("No such partner."))
    return partner


def search(query: str = "", limit: int = 50) -> list[Partner]:
    """The newest partners whose e-mail contains ``query`` (any, when empty); ``%`` and ``_`` are plain."""
    statement = select(Partner).order_by(Partner.created_at.desc(), Partner.id).limit(limit)
    query = query.strip().lower()[:254]
    if query:
        statement = statement.where(Partner.email.contains(query, autoescape=True))
    return list(db.session.scalars(statement))


def set_locale(partner: Partner, locale: str) -> None:
    """Raises ValidationError for a language we do not offer."""
    if locale not in LOCALES:
        raise ValidationError(_("This language is not available."), code="invalid_locale")
    partner.locale = locale
    db.session.flush()
