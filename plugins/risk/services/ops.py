"""What the operator pages read and do: the held partners with each rule's figure, lifting a partner's
holds (the core holds service writes the audit records), and the large payouts waiting for an admin."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flask_babel import gettext as _
from sqlalchemy import select

from contentflow.errors import Conflict, NotFound
from contentflow.extensions import db
from contentflow.models import AdminUser, Hold, Partner, Payout
from contentflow.models.base import utcnow
from contentflow.services import holds, payouts
from plugins.risk.models import RiskFinding

#: The largest id a BIGINT column holds: a larger number names no row (and would be a database error).
MAX_ID = 2**63 - 1


@dataclass(frozen=True)
class HeldPartner:
    """One active hold, its partner's e-mail, and the figure the rule measured (None: an admin's)."""

    hold: Hold
    email: str
    finding: RiskFinding | None


def list_held(*, now: datetime | None = None, limit: int = 500) -> list[HeldPartner]:
    """Every active hold (risk's and admins'), the latest placed first. Read-only."""
    rows = db.session.execute(
        select(Hold, Partner.email, RiskFinding)
        .join(Partner, Partner.id == Hold.partner_id)
        .outerjoin(RiskFinding, RiskFinding.hold_id == Hold.id)
        .where(*holds.active_clause(now or utcnow()))
        .order_by(Hold.created_at.desc(), Hold.id.desc())
        .limit(limit)
    ).all()
    return [HeldPartner(hold, email, finding) for hold, email, finding in rows]


def get_hold(hold_id: int) -> Hold:
    """The hold ``hold_id``. Raises NotFound, also for a number no hold id can be (0, negative, beyond
    BIGINT)."""
    if not 1 <= hold_id <= MAX_ID:
        raise NotFound(_("No such hold."), code="unknown_hold")
    return holds.get_hold(hold_id)


def lift_partner(partner_id: str, admin: AdminUser, note: str, *, now: datetime | None = None) -> int:
    """Lift every active hold of the partner, each audit-logged with the admin's ``note``. Returns how
    many. Raises ValidationError (no note) or Conflict (nothing to lift, also when another admin lifted
    them first)."""
    now = now or utcnow()
    if "\x00" in partner_id:  # no partner id holds one, and PostgreSQL refuses it in a query
        raise Conflict(_("This partner is not on hold."), code="hold_not_active")
    active = list(
        db.session.scalars(
            select(Hold).where(Hold.partner_id == partner_id, *holds.active_clause(now)).order_by(Hold.id)
        )
    )
    if not active:
        raise Conflict(_("This partner is not on hold."), code="hold_not_active")
    for hold in active:
        holds.lift_hold(hold, admin, note=note, now=now)
    return len(active)


def pending_payouts(statuses: tuple[str, ...] = ("requested",), limit: int = 200) -> list[tuple[Payout, str]]:
    """Payouts of ``PAYOUT_APPROVAL_THRESHOLD_EUR`` or more in ``statuses`` (waiting for approval by
    default), oldest request first, each with its partner's e-mail. Read-only."""
    return [
        (payout, email)
        for payout, email in db.session.execute(
            select(Payout, Partner.email)
            .join(Partner, Partner.id == Payout.partner_id)
            .where(Payout.status.in_(statuses), Payout.amount_cents >= payouts.approval_threshold_cents())
            .order_by(Payout.requested_at, Payout.id)
            .limit(limit)
        )
    ]
