"""Reading the core audit log for the operators' page: who did what, when, with which details (before
and after where the service recorded them), filtered by admin, action and partner. Read-only.

A filter value no row can hold (a NUL byte, an admin id beyond BIGINT) matches nothing: it is never sent
to the database, which would refuse it (a 500 instead of an empty page)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import and_, cast, or_, select
from sqlalchemy.types import String

from contentflow.extensions import db
from contentflow.models import AdminUser, AuditLog, Partner, Payout

#: The largest id a BIGINT column holds.
MAX_ID = 2**63 - 1


@dataclass(frozen=True)
class AuditFilters:
    """What the page filters on; empty means any. ``partner`` is an e-mail or a partner id."""

    admin_id: int | None = None
    action: str = ""
    partner: str = ""


def find_partner(text: str) -> Partner | None:
    """The partner whose id or e-mail (any case) is ``text``, or None."""
    text = (text or "").strip()[:254]
    if not text or "\x00" in text:
        return None
    return db.session.get(Partner, text) or db.session.scalar(
        select(Partner).where(Partner.email == text.lower())
    )


def _about_partner(partner_id: str):
    """Entries about the partner (holds, ledger, details), about one of their payouts, or naming them in
    their details (``partner_id``: e.g. a plugin's support tickets)."""
    their_payouts = select(cast(Payout.id, String)).where(Payout.partner_id == partner_id)
    return or_(
        and_(AuditLog.target_type == "partner", AuditLog.target_id == partner_id),
        and_(AuditLog.target_type == "payout", AuditLog.target_id.in_(their_payouts)),
        AuditLog.details["partner_id"].as_string() == partner_id,
    )


def _is_impossible(filters: AuditFilters) -> bool:
    """Whether a filter names something no entry can hold."""
    too_large = filters.admin_id is not None and not 0 <= filters.admin_id <= MAX_ID
    return too_large or "\x00" in filters.action


def list_entries(filters: AuditFilters, limit: int = 200) -> list[AuditLog]:
    """Audit entries matching ``filters``, newest first. A ``partner`` that names nobody matches
    nothing."""
    if _is_impossible(filters):
        return []
    statement = select(AuditLog).order_by(AuditLog.id.desc()).limit(limit)
    if filters.admin_id is not None:
        statement = statement.where(AuditLog.admin_user_id == filters.admin_id)
    if filters.action:
        statement = statement.where(AuditLog.action == filters.action)
    if filters.partner:
        partner = find_partner(filters.partner)
        if partner is None:
            return []
        statement = statement.where(_about_partner(partner.id))
    return list(db.session.scalars(statement))


def known_actions() -> list[str]:
    """Every action the log holds, sorted: the choices of the action filter."""
    return sorted(db.session.scalars(select(AuditLog.action).distinct()))


def known_admins() -> list[AdminUser]:
    """Every admin, by e-mail: the choices of the admin filter."""
    return list(db.session.scalars(select(AdminUser).order_by(AdminUser.email)))
