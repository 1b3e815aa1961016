"""Admin users: creation and password sign-in."""

from __future__ import annotations

from flask_babel import gettext as _
from sqlalchemy import func, select

from contentflow.errors import Conflict, ValidationError
from contentflow.extensions import db
from contentflow.models import AdminUser, Asset, AuditLog, Network, Offer, Partner
from contentflow.models.base import utcnow
from contentflow.security import check_password, hash_password
from contentflow.services import audit
from contentflow.services.partners import normalize_email

MIN_PASSWORD_LENGTH = 12
#: Compared against when the e-mail is unknown, so both paths cost the same hashing time.
_DUMMY_HASH = hash_password("contentflow-timing-equaliser")


def create_admin(email: str, password: str, *, actor: str | None = None) -> AdminUser:
    """A new admin, audit-logged as made by ``actor``. Raises ValidationError (weak password, bad e-mail)
    or Conflict (e-mail taken)."""
    email = normalize_email(email)
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationError(
            _("The password needs at least %(n)d characters.", n=MIN_PASSWORD_LENGTH), code="weak_password"
        )
    if db.session.scalar(select(AdminUser.id).where(AdminUser.email == email)) is not None:
        raise Conflict(_("An admin with this e-mail already exists."), code="admin_exists")
    admin = AdminUser(email=email, password_hash=hash_password(password))
    db.session.add(admin)
    db.session.flush()
    audit.record_change(
        "admin.create", actor=actor, target_type="admin", target_id=admin.id, details={"email": email}
    )
    return admin


def authenticate(email: str, password: str, *, ip_hash: str | None = None) -> AdminUser | None:
    """The admin for these credentials, or None. Same work whether the e-mail exists or not. Both
    outcomes are audit-logged (``admin.login``, ``admin.login_failed`` with the e-mail tried)."""
    admin = db.session.scalar(select(AdminUser).where(AdminUser.email == email.strip().lower()))
    if admin is None:
        check_password(_DUMMY_HASH, password)
    elif check_password(admin.password_hash, password):
        admin.last_login_at = utcnow()
        db.session.flush()
        audit.record("admin.login", admin=admin, target_type="admin", target_id=admin.id, ip_hash=ip_hash)
        return admin
    audit.record("admin.login_failed", actor="anonymous", details={"email": email[:254]}, ip_hash=ip_hash)
    return None


def sign_out(admin: AdminUser) -> None:
    """End every session of ``admin`` (the session epoch moves on: old cookies stop working). Audited."""
    audit.record("admin.logout", admin=admin, target_type="admin", target_id=admin.id)
    admin.session_epoch += 1
    db.session.flush()


def overview(recent_count: int = 20) -> dict:
    """What the admin home shows: ``counts`` of the core things and the ``recent`` audit entries."""

    def count(model) -> int:
        return db.session.scalar(select(func.count()).select_from(model))

    return {
        "counts": {
            "partners": count(Partner),
            "assets": count(Asset),
            "offers": count(Offer),
            "networks": count(Network),
        },
        "recent": db.session.scalars(select(AuditLog).order_by(AuditLog.id.desc()).limit(recent_count)).all(),
    }
