"""Holds: while one is active (not lifted, not expired) a partner cannot withdraw nor publish.

Core owns the table and this service; the risk plugin decides holds (``source="risk"``), admins place,
extend and lift them (``source="admin"``, audit-logged). While a hold is active, the balances service
keeps what is credited to the partner out of their available balance.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import or_, select, update

from contentflow.errors import Conflict, NotFound, ValidationError
from contentflow.extension_points import IS_ON_HOLD
from contentflow.extensions import db
from contentflow.models import AdminUser, Hold
from contentflow.models.base import utcnow
from contentflow.services import audit

HOLD_SOURCES = ("admin", "risk")
#: ``place_hold(days=DEFAULT_DAYS)`` means ``RISK_HOLD_DAYS``; ``days=None`` never expires.
DEFAULT_DAYS = object()


def active_clause(now: datetime) -> tuple:
    return (Hold.lifted_at.is_(None), or_(Hold.expires_at.is_(None), Hold.expires_at > now))


def active_hold(partner_id: str, *, now: datetime | None = None) -> Hold | None:
    """The partner's active hold (the latest placed), or None."""
    return db.session.scalar(
        select(Hold)
        .where(Hold.partner_id == partner_id, *active_clause(now or utcnow()))
        .order_by(Hold.created_at.desc(), Hold.id.desc())
        .limit(1)
    )


def is_on_hold(partner_id: str, *, now: datetime | None = None) -> bool:
    """Whether the partner's withdrawals and publishing are blocked: an active hold in the table, or an
    enabled plugin's answer to the ``holds.is_on_hold`` hook (``extension_points.IS_ON_HOLD``)."""
    now = now or utcnow()
    return active_hold(partner_id, now=now) is not None or bool(IS_ON_HOLD(partner_id, now=now))


def held_among(partner_ids: list[str], *, now: datetime | None = None) -> set[str]:
    """Which of ``partner_ids`` have an active hold in the table (for lists of partners)."""
    if not partner_ids:
        return set()
    return set(
        db.session.scalars(
            select(Hold.partner_id).where(Hold.partner_id.in_(partner_ids), *active_clause(now or utcnow()))
        )
    )


def place_hold(
    partner_id: str,
    reason: str,
    *,
    source: str = "admin",
    days: int | None | object = DEFAULT_DAYS,
    detail: str = "",
    admin: AdminUser | None = None,
    now: datetime | None = None,
) -> Hold:
    """Hold the partner for ``days`` (default ``RISK_HOLD_DAYS``; None: until lifted). Audit-logged.

    Idempotent per reason and source: while such a hold is active it is returned unchanged.
    Raises ValidationError (empty or long reason, unknown source, days below 1).
    """
    now = now or utcnow()
    reason = (reason or "").strip()
    if not reason or len(reason) > 64:
        raise ValidationError(_("A hold needs a reason (64 characters at most)."), code="invalid_reason")
    if source not in HOLD_SOURCES:
        raise ValidationError(f"unknown hold source {source!r}", code="invalid_source")
    if days is DEFAULT_DAYS:
        days = current_app.config["RISK_HOLD_DAYS"]
    if days is not None and (not isinstance(days, int) or days < 1 or days > 3650):
        raise ValidationError(_("A hold lasts 1 to 3650 days, or until lifted."), code="invalid_days")
    existing = db.session.scalar(
        select(Hold).where(
            Hold.partner_id == partner_id, Hold.reason == reason, Hold.source == source, *active_clause(now)
        )
    )
    if existing is not None:
        return existing
    hold = Hold(
        partner_id=partner_id,
        reason=reason,
        detail=(detail or "").strip()[:500],
        source=source,
        created_at=now,
        expires_at=now.astimezone(UTC) + timedelta(days=days) if days is not None else None,
    )
    db.session.add(hold)
    db.session.flush()
    audit.record(
        "hold.place",
        admin=admin,
        actor=None if admin else source,
        target_type="partner",
        target_id=partner_id,
        details={"hold_id": hold.id, "reason": reason, "days": days},
    )
    return hold


def get_hold(hold_id: int) -> Hold:
    """Raises NotFound."""
    hold = db.session.get(Hold, hold_id)
    if hold is None:
        raise NotFound(_("No such hold."), code="unknown_hold")
    return hold


def _admin_note(note: str) -> str:
    """Why an admin acts, kept in the audit log. Raises ValidationError when empty or too long."""
    note = (note or "").strip()
    if not note or len(note) > 500:
        raise ValidationError(_("Say why (500 characters at most)."), code="note_required")
    return note


def _change_active_hold(hold: Hold, now: datetime, conditions: tuple, **values) -> None:
    """Set ``values`` on ``hold`` in one conditional UPDATE that only an active hold (meeting
    ``conditions``) passes, then reload it. Raises Conflict when it no longer is (lifted, expired, or
    changed by another admin at the same moment)."""
    changed = db.session.execute(
        update(Hold)
        .where(Hold.id == hold.id, *conditions, *active_clause(now))
        .values(**values)
        .execution_options(synchronize_session=False)
    ).rowcount
    if not changed:
        raise Conflict(_("This hold is no longer active."), code="hold_not_active")
    db.session.refresh(hold)


def lift_hold(hold: Hold, admin: AdminUser, *, note: str | None = None, now: datetime | None = None) -> Hold:
    """Lift ``hold`` now, audit-logged with the admin's ``note`` (why) when given. Raises
    ValidationError (an empty or long note given), Conflict when it was already lifted (also when two
    admins lift it at the same moment: the update is conditional) or has expired."""
    now = now or utcnow()
    note = _admin_note(note) if note is not None else ""
    _change_active_hold(hold, now, (), lifted_at=now, lifted_by_admin_id=admin.id)
    audit.record(
        "hold.lift",
        admin=admin,
        target_type="partner",
        target_id=hold.partner_id,
        details={
            "hold_id": hold.id,
            "reason": hold.reason,
            **({"note": note} if note else {}),
            "before": {"status": "active"},
            "after": {"status": "lifted"},
        },
    )
    return hold


def extend_hold(hold: Hold, admin: AdminUser, days: int, note: str, *, now: datetime | None = None) -> Hold:
    """Push the end of an active hold ``days`` later, audit-logged with the admin's ``note`` and the end
    before and after. Raises ValidationError (days not 1 to 3650, empty or long note) or Conflict (the
    hold is no longer active, never expires, or was changed by another admin at the same moment: the
    update is conditional). Not idempotent: each call extends."""
    now = now or utcnow()
    note = _admin_note(note)
    if not isinstance(days, int) or isinstance(days, bool) or not 1 <= days <= 3650:
        raise ValidationError(_("A hold is extended by 1 to 3650 days."), code="invalid_days")
    before = hold.expires_at
    if before is None:
        raise Conflict(_("This hold lasts until lifted: there is nothing to extend."), code="hold_open_ended")
    _change_active_hold(hold, now, (Hold.expires_at == before,), expires_at=before + timedelta(days=days))
    audit.record(
        "hold.extend",
        admin=admin,
        target_type="partner",
        target_id=hold.partner_id,
        details={
            "hold_id": hold.id,
            "reason": hold.reason,
            "note": note,
            "before": {"expires_at": before.isoformat()},
            "after": {"expires_at": hold.expires_at.isoformat()},
        },
    )
    return hold


def list_holds(partner_id: str, limit: int = 50) -> list[Hold]:
    """The partner's holds, newest first."""
    return list(
        db.session.scalars(
            select(Hold)
            .where(Hold.partner_id == partner_id)
            .order_by(Hold.created_at.desc(), Hold.id.desc())
            .limit(limit)
        )
    )
