"""The assignment queue: assignments made (by an admin, the CLI, or another plugin through the core's
``assignments.create_for`` hook), reviewed by partners, retried or cancelled by admins.

Never two live assignments for one asset, partner and platform: the core's partial unique index decides,
inside a savepoint, so two concurrent requests make one (the other is told ``already_assigned``).
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from contentflow.errors import Conflict, NotFound, ValidationError
from contentflow.extensions import db
from contentflow.models import AdminUser, Asset, Assignment, Partner, PartnerAccount
from contentflow.models.assignment import LIVE_STATUSES
from contentflow.models.base import utcnow
from contentflow.platforms import PLATFORMS
from contentflow.services import audit
from contentflow.services.assignments import AssignmentOutcome
from plugins.publish.models import AccountSettings

STATUS_LABELS = {
    "pending": _l("waiting for your review"),
    "approved": _l("scheduled"),
    "posting": _l("posting now"),
    "posted": _l("posted"),
    "failed": _l("failed"),
    "skipped": _l("skipped"),
    "needs_review": _l("being checked"),
}
#: Statuses a queue page keeps polling for: something may change without anyone clicking.
MOVING_STATUSES = ("approved", "posting")


def first_account(partner_id: str, platform: str) -> tuple[PartnerAccount | None, AccountSettings | None]:
    """The partner's first enabled account on ``platform`` (oldest connection first) and its settings."""
    row = db.session.execute(
        select(PartnerAccount, AccountSettings)
        .outerjoin(AccountSettings, AccountSettings.account_id == PartnerAccount.id)
        .where(
            PartnerAccount.partner_id == partner_id,
            PartnerAccount.platform == platform,
            PartnerAccount.enabled.is_(True),
        )
        .order_by(PartnerAccount.created_at, PartnerAccount.id)
        .limit(1)
    ).first()
    return (row[0], row[1]) if row else (None, None)


def create(
    partner_id: str,
    asset_id: str,
    platform: str,
    *,
    approved: bool | None = None,
    planned_at: datetime | None = None,
    admin: AdminUser | None = None,
    actor: str | None = None,
) -> AssignmentOutcome:
    """An assignment of ``asset_id`` to the partner on ``platform``, on their first enabled account.

    ``approved`` True approves it at once, False leaves it for the partner's review, None follows the
    account's autopublish setting. Skipped (with the reason, nothing written) when the partner has no
    enabled account there (``no_connected_account``), the account must be reconnected
    (``account_reconnect_needed``) or a live assignment exists (``already_assigned``). Raises
    ValidationError for an unknown platform and NotFound for an unknown asset or partner.
    """
    asset = _asset_to_assign(partner_id, asset_id, platform)
    account, settings = first_account(partner_id, platform)
    if account is None:
        return AssignmentOutcome(platform, reason="no_connected_account")
    if settings is not None and settings.needs_reconnect:
        return AssignmentOutcome(platform, reason="account_reconnect_needed")
    if approved is None:
        approved = bool(settings and settings.autopublish)
    assignment = Assignment(
        asset_id=asset.id,
        partner_id=partner_id,
        platform=platform,
        partner_account_id=account.id,
        status="approved" if approved else "pending",
        planned_at=planned_at or utcnow(),
    )
    try:
        with db.session.begin_nested():
            db.session.add(assignment)
    except IntegrityError:
        return AssignmentOutcome(platform, reason="already_assigned")
    _audit_creation(assignment, admin=admin, actor=actor)
    return AssignmentOutcome(platform, assignment_id=assignment.id)


def _asset_to_assign(partner_id: str, asset_id: str, platform: str) -> Asset:
    """The asset. Raises ValidationError for an unknown platform, NotFound for an unknown asset or partner."""
    if platform not in PLATFORMS:
        raise ValidationError(
            _("Unknown platform: %(platform)s.", platform=platform[:20]), code="unknown_platform"
        )
    asset = db.session.get(Asset, asset_id)
    if asset is None:
        raise NotFound(_("No such asset."), code="asset_not_found")
    if db.session.get(Partner, partner_id) is None:
        raise NotFound(_("No such partner."), code="unknown_partner")
    return asset


def _audit_creation(assignment: Assignment, *, admin: AdminUser | None, actor: str | None) -> None:
    audit.record_change(
        "assignment.create",
        admin=admin,
        actor=actor,
        target_type="assignment",
        target_id=assignment.id,
        details={
            "asset_id": assignment.asset_id,
            "partner_id": assignment.partner_id,
            "platform": assignment.platform,
            "status": assignment.status,
        },
    )


def create_for_hook(partner_id: str, asset_id: str, platform: str, *, approved: bool) -> AssignmentOutcome:
    """The publish plugin's answer to the core's ``assignments.create_for`` hook."""
    return create(partner_id, asset_id, platform, approved=approved)


def create_for_all(asset_id: str, platform: str, *, admin: AdminUser) -> list[AssignmentOutcome]:
    """Assign an asset to every partner with an enabled account on ``platform`` (each by its own rules)."""
    partner_ids = db.session.scalars(
        select(PartnerAccount.partner_id)
        .where(PartnerAccount.platform == platform, PartnerAccount.enabled.is_(True))
        .group_by(PartnerAccount.partner_id)
        .order_by(PartnerAccount.partner_id)
    ).all()
    return [create(partner_id, asset_id, platform, admin=admin) for partner_id in partner_ids]


# --- the partner's review --------------------------------------------------------------------------


def get_own(partner_id: str, assignment_id: int) -> Assignment:
    """The partner's assignment ``assignment_id``. Raises NotFound (also for another partner's)."""
    assignment = db.session.get(Assignment, assignment_id)
    if assignment is None or assignment.partner_id != partner_id:
        raise NotFound(_("No such assignment."), code="unknown_assignment")
    return assignment


def _move(assignment: Assignment, from_statuses: tuple[str, ...], **values) -> None:
    """One conditional UPDATE: the second of two racing clicks (or a worker taking it) gets a 409."""
    moved = db.session.execute(
        update(Assignment)
        .where(Assignment.id == assignment.id, Assignment.status.in_(from_statuses))
        .values(updated_at=utcnow(), **values)
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.refresh(assignment)
    if not moved:
        raise Conflict(
            _(
                "This post is already %(status)s.",
                status=STATUS_LABELS.get(assignment.status, assignment.status),
            ),
            code="assignment_state",
        )


def approve(assignment: Assignment, *, now: datetime | None = None) -> None:
    """The partner approves a pending assignment: it is posted when due, within the account's cap.
    Raises Conflict when it is no longer pending."""
    _move(assignment, ("pending",), status="approved", planned_at=now or utcnow())


def skip(assignment: Assignment, *, admin: AdminUser | None = None) -> None:
    """The partner (or an admin) skips an assignment that is not posted nor being posted. Raises Conflict."""
    _move(assignment, ("pending", "approved", "failed", "needs_review"), status="skipped")
    audit.record_change("assignment.cancel", admin=admin, target_type="assignment", target_id=assignment.id)


def retry(assignment_id: int, admin: AdminUser, *, now: datetime | None = None) -> Assignment:
    """An admin sends a failed assignment (or one whose post could not be found) back to the queue, due
    now, with its attempts reset. Audit-logged. Raises NotFound or Conflict."""
    assignment = db.session.get(Assignment, assignment_id)
    if assignment is None:
        raise NotFound(_("No such assignment."), code="unknown_assignment")
    _move(
        assignment,
        ("failed", "needs_review"),
        status="approved",
        planned_at=now or utcnow(),
        attempts=0,
        posting_started_at=None,
    )
    audit.record("assignment.retry", admin=admin, target_type="assignment", target_id=assignment.id)
    return assignment


def cancel(assignment_id: int, admin: AdminUser) -> Assignment:
    """An admin cancels an assignment that is not posted nor being posted. Raises NotFound or Conflict."""
    assignment = db.session.get(Assignment, assignment_id)
    if assignment is None:
        raise NotFound(_("No such assignment."), code="unknown_assignment")
    skip(assignment, admin=admin)
    return assignment


# --- lists -----------------------------------------------------------------------------------------


def list_for_partner(partner_id: str, limit: int = 200) -> list[tuple[Assignment, Asset]]:
    """The partner's assignments with their asset, the live ones first, newest first."""
    live_first = func.coalesce(Assignment.status.in_(LIVE_STATUSES), False).desc()
    return [
        (assignment, asset)
        for assignment, asset in db.session.execute(
            select(Assignment, Asset)
            .join(Asset, Asset.id == Assignment.asset_id)
            .where(Assignment.partner_id == partner_id)
            .order_by(live_first, Assignment.created_at.desc(), Assignment.id.desc())
            .limit(limit)
        )
    ]


def list_by_status(status: str | None, limit: int = 200) -> list[tuple[Assignment, Asset, str]]:
    """Assignments (of one status, or all) with their asset and partner e-mail, newest first: the admin
    queue."""
    statement = (
        select(Assignment, Asset, Partner.email)
        .join(Asset, Asset.id == Assignment.asset_id)
        .join(Partner, Partner.id == Assignment.partner_id)
        .order_by(Assignment.updated_at.desc(), Assignment.id.desc())
        .limit(limit)
    )
    if status:
        statement = statement.where(Assignment.status == status)
    return [tuple(row) for row in db.session.execute(statement)]


def count_by_status(partner_id: str | None = None) -> dict[str, int]:
    """How many assignments are in each status (all statuses present), of one partner or of all."""
    statement = select(Assignment.status, func.count()).group_by(Assignment.status)
    if partner_id is not None:
        statement = statement.where(Assignment.partner_id == partner_id)
    counts = Counter({status: count for status, count in db.session.execute(statement)})
    return {status: int(counts.get(status, 0)) for status in STATUS_LABELS}
