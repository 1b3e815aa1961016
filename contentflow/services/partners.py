"""Partners: find or create by e-mail, who referred whom, language choice."""

from __future__ import annotations

from email_validator import EmailNotValidError, validate_email
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from contentflow.errors import Conflict, NotFound, ValidationError
from contentflow.extensions import db
from contentflow.models import Partner
from contentflow.models.partner import LOCALES, REFERRAL_CODE_LENGTH
from contentflow.services import audit

#: How far up a chain of referrers the loop check looks (a real chain is a handful of partners long).
MAX_REFERRAL_DEPTH = 1000


def normalize_email(raw: str) -> str:
    """Lower-cased, syntax-checked address (no DNS look-up). Raises ValidationError."""
    try:
        return validate_email(raw.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError:
        raise ValidationError(_("This e-mail address is not valid."), code="invalid_email") from None


def find_partner_by_email(email: str) -> Partner | None:
    return db.session.scalar(select(Partner).where(Partner.email == email.lower()))


def get_or_create_partner(
    email: str, *, locale: str = "fr", referral_code: str | None = None, actor: str | None = None
) -> Partner:
    """The partner with this e-mail, created if new (audit-logged when an operator, ``actor``, creates
    it). A new partner is referred by the owner of ``referral_code``; an unknown code is ignored, and an
    existing partner keeps their referrer. Idempotent, also under concurrent sign-ups."""
    email = normalize_email(email)
    partner = find_partner_by_email(email)
    if partner is not None:
        return partner
    referrer = find_by_referral_code(referral_code) if referral_code else None
    partner = Partner(email=email, locale=locale if locale in LOCALES else "fr")
    try:
        with db.session.begin_nested():
            db.session.add(partner)
    except IntegrityError:
        # A concurrent request created the same e-mail first: use theirs.
        partner = find_partner_by_email(email)
        if partner is None:
            raise
        return partner
    if referrer is not None:
        set_referrer(partner, referrer)
    if actor is not None:
        audit.record(
            "partner.create",
            actor=actor,
            target_type="partner",
            target_id=partner.id,
            details={"email": email},
        )
    return partner


def find_by_referral_code(code: str) -> Partner | None:
    """The partner whose public referral code is ``code`` (case-insensitive), or None."""
    code = (code or "").strip().lower()
    if not (code.isascii() and code.isalnum()) or len(code) > REFERRAL_CODE_LENGTH:
        return None
    return db.session.scalar(select(Partner).where(Partner.referral_code == code))


def set_referrer(partner: Partner, referrer: Partner) -> None:
    """Record that ``referrer`` brought ``partner``. Idempotent for the same referrer.

    Raises ValidationError (``self_referral``: a partner cannot refer themselves; ``referral_loop``:
    ``partner`` already is, directly or not, the referrer of ``referrer``) or Conflict
    (``already_referred``: another partner referred them first; a referrer is set once).
    """
    if referrer.id == partner.id:
        raise ValidationError(_("You cannot refer yourself."), code="self_referral")
    if partner.referrer_id == referrer.id:
        return
    if partner.referrer_id is not None:
        raise Conflict(_("This partner was already referred by someone else."), code="already_referred")
    ancestor_id, seen = referrer.referrer_id, {referrer.id}
    while ancestor_id is not None and ancestor_id not in seen and len(seen) < MAX_REFERRAL_DEPTH:
        if ancestor_id == partner.id:
            raise ValidationError(_("These partners already refer each other."), code="referral_loop")
        seen.add(ancestor_id)
        ancestor_id = db.session.scalar(select(Partner.referrer_id).where(Partner.id == ancestor_id))
    partner.referrer_id = referrer.id
    db.session.flush()


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
